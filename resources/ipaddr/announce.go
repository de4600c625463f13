package ipaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// writeTimeout bounds one announcement write; a raw socket on a sick
// interface must not hold up Start.
const writeTimeout = 100 * time.Millisecond

// announcer is what one address's announcements are written to: the
// interface's shared ARP socket (Announcer), or a socket of its own for
// IPv6.
type announcer struct {
	arp  *arp.Client // IPv4, shared: see Announcer
	key  sockKey     // of arp
	arpP []*arp.Packet
	ndp  *ipv6.PacketConn // IPv6
	na   []byte           // marshalled unsolicited neighbour advertisement
	cm   *ipv6.ControlMessage
}

// openAnnouncer opens the sockets for our address family on the interface
// (inside the agent's namespace). It returns nil, nil for interfaces without
// a link-layer address (tun, wireguard, loopback), where nobody caches one.
func (a *Agent) openAnnouncer() (*announcer, error) {
	var an *announcer
	err := a.inNS(func() error {
		ifi, err := net.InterfaceByName(a.ifName)
		if err != nil {
			return fmt.Errorf("interface %q: %w", a.ifName, err)
		}
		an, err = a.announcerOn(ifi)
		return err
	})
	return an, err
}

// announcerOn opens (or shares) the sockets to announce on ifi; nil, nil
// without a link-layer address. It runs in the agent's namespace.
func (a *Agent) announcerOn(ifi *net.Interface) (*announcer, error) {
	if len(ifi.HardwareAddr) != 6 || ifi.Flags&net.FlagLoopback != 0 {
		return nil, nil
	}
	vip := a.prefix.Addr()
	if vip.Is4() {
		return a.openARP(ifi, vip)
	}
	return openNDP(ifi, vip)
}

func (a *Agent) openARP(ifi *net.Interface, vip netip.Addr) (*announcer, error) {
	var pkts []*arp.Packet
	// Both forms: some hosts only learn from requests, some only from replies.
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		p, err := arp.NewPacket(op, ifi.HardwareAddr, vip, ethernet.Broadcast, vip)
		if err != nil {
			return nil, fmt.Errorf("build gratuitous ARP: %w", err)
		}
		pkts = append(pkts, p)
	}
	c, err := a.pool.arpFor(a, ifi)
	if err != nil {
		return nil, err
	}
	return &announcer{arp: c, key: sockKey{a.nsPath, ifi.Name}, arpP: pkts}, nil
}

func openNDP(ifi *net.Interface, vip netip.Addr) (*announcer, error) {
	na, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
	})
	if err != nil {
		return nil, fmt.Errorf("build neighbour advertisement: %w", err)
	}
	// Sourced from the VIP itself: it is usable at once (NODAD), unlike a
	// link-local address that may still be tentative on a fresh link. The
	// socket is set up by hand rather than with ndp.Listen because ndp names
	// the interface by zone string, which Go resolves in the namespace of
	// whichever thread writes; an index in the control message cannot go wrong.
	ic, err := icmp.ListenPacket("ip6:ipv6-icmp", vip.String())
	if err != nil {
		return nil, fmt.Errorf("ICMPv6 socket on %s: %w", ifi.Name, err)
	}
	pc := ic.IPv6PacketConn()
	for _, set := range []func() error{
		func() error { return pc.SetHopLimit(ndp.HopLimit) }, // RFC 4861 requires 255
		func() error { return pc.SetMulticastHopLimit(ndp.HopLimit) },
		func() error { return pc.SetChecksum(true, 2) },
		func() error { return pc.SetMulticastInterface(ifi) },
	} {
		if err := set(); err != nil {
			ic.Close()
			return nil, fmt.Errorf("ICMPv6 socket on %s: %w", ifi.Name, err)
		}
	}
	return &announcer{ndp: pc, na: na, cm: &ipv6.ControlMessage{
		HopLimit: ndp.HopLimit,
		Src:      vip.AsSlice(),
		IfIndex:  ifi.Index,
	}}, nil
}

// round sends one announcement: ARP request + reply, or one unsolicited NA.
func (an *announcer) round() error {
	deadline := time.Now().Add(writeTimeout)
	if an.arp != nil {
		if err := an.arp.SetWriteDeadline(deadline); err != nil {
			return err
		}
		var errs []error
		for _, p := range an.arpP {
			if err := an.arp.WriteTo(p, ethernet.Broadcast); err != nil {
				errs = append(errs, fmt.Errorf("gratuitous ARP %s: %w", p.Operation, err))
			}
		}
		return errors.Join(errs...)
	}
	if err := an.ndp.SetWriteDeadline(deadline); err != nil {
		return err
	}
	allNodes := &net.IPAddr{IP: netip.IPv6LinkLocalAllNodes().AsSlice()}
	if _, err := an.ndp.WriteTo(an.na, an.cm, allNodes); err != nil {
		return fmt.Errorf("unsolicited neighbour advertisement: %w", err)
	}
	return nil
}

// Close closes an IPv6 announcer's own socket (IPv4 sockets are shared:
// Announcer closes them).
func (an *announcer) Close() {
	if an.ndp != nil {
		_ = an.ndp.Close()
	}
}
