// Package ipaddr is the "ipaddr" resource type: a floating IP address on a
// local interface, announced with gratuitous ARP (IPv4) or unsolicited
// neighbour advertisements (IPv6) so that neighbours switch to this node's
// MAC at once instead of after their cache expires (tens of seconds).
//
//	address        CIDR, IPv4 or IPv6 ("198.18.0.100/24")
//	interface      interface name ("eth0")
//	garp_count     announcement rounds per start (default 5, 0 = none)
//	garp_interval  time between rounds (default 200ms)
//	garp_refresh   re-announce period while running (0 = off)
//
// Start returns as soon as the address is configured and the first round is
// on the wire; the other rounds follow in the background until they are
// done or Stop cancels them. When garp_refresh is set, the agent New returns
// also implements
//
//	type Refresher interface{ Refresh(ctx context.Context) error }
//
// and RefreshInterval() time.Duration: the executor calls Refresh at that
// period while the resource runs (re-teaching switches and neighbours that
// lost their entries). Every agent also has Announce(ctx) error, a fresh
// burst on demand (see Announce).
package ipaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/resources"
)

// TypeName is the resource type this package implements.
const TypeName = "ipaddr"

const (
	defaultGARPCount    = 5
	defaultGARPInterval = 200 * time.Millisecond
	maxGARPCount        = 100
)

// Refresher is implemented by agents built with garp_refresh > 0.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Agent manages one floating address.
type Agent struct {
	name     string
	prefix   netip.Prefix
	ifName   string
	count    int
	interval time.Duration
	log      hclog.Logger

	// nsPath, when set, makes the agent act inside that network namespace
	// (a /run/netns path). Only tests set it; production runs in the
	// agent's own namespace.
	nsPath string

	// lifetime, when set, is the kernel valid/preferred lifetime Start
	// gives the address: if nobody renews it (the crash guard does, while
	// the node's lease holds), the kernel removes it by itself.
	lifetime time.Duration

	mu   sync.Mutex // serialises Start, Stop and Refresh
	pool *Announcer // sends the background announcement rounds
}

// refreshingAgent is what New returns when garp_refresh is set, so that the
// executor's type assertion for Refresher only succeeds then.
type refreshingAgent struct {
	*Agent
	every time.Duration
}

// Refresh announces the address once more if it is configured.
func (r *refreshingAgent) Refresh(ctx context.Context) error { return r.refresh(ctx) }

// RefreshInterval is the garp_refresh period.
func (r *refreshingAgent) RefreshInterval() time.Duration { return r.every }

// New builds an ipaddr agent from s.Params; its addresses are permanent.
// It announces on its own; agents built by one NewWithLifetime factory
// share one Announcer (what a process with many addresses wants).
func New(s resources.Spec) (resources.Agent, error) { return newAgent(s, 0, NewAnnouncer()) }

// NewWithLifetime is the factory of agents whose addresses get a finite
// kernel lifetime (whole seconds, at least 1 s), renewed from outside
// (cluster/guard); 0 means permanent addresses. Its agents share one
// Announcer.
func NewWithLifetime(lifetime time.Duration) resources.Factory {
	pool := NewAnnouncer()
	return func(s resources.Spec) (resources.Agent, error) { return newAgent(s, lifetime, pool) }
}

func newAgent(s resources.Spec, lifetime time.Duration, pool *Announcer) (resources.Agent, error) {
	if err := Schema().Check(fmt.Sprintf("ipaddr resource %q", s.Name), s.Params); err != nil {
		return nil, err
	}
	a, refresh, err := parse(s)
	if err != nil {
		return nil, fmt.Errorf("ipaddr resource %q: %w", s.Name, err)
	}
	a.lifetime = lifetime
	a.pool = pool
	if refresh > 0 {
		return &refreshingAgent{Agent: a, every: refresh}, nil
	}
	return a, nil
}

func parse(s resources.Spec) (*Agent, time.Duration, error) {
	a := &Agent{
		name:     s.Name,
		ifName:   s.Params["interface"],
		count:    defaultGARPCount,
		interval: defaultGARPInterval,
		log:      s.Logger,
		pool:     NewAnnouncer(),
	}
	if a.log == nil {
		a.log = hclog.NewNullLogger()
	}
	p, err := netip.ParsePrefix(s.Params["address"])
	if err != nil {
		return nil, 0, fmt.Errorf("address %q is not a CIDR address such as 198.18.0.100/24: %w", s.Params["address"], err)
	}
	addr := p.Addr().Unmap() // ::ffff:a.b.c.d/120 is a.b.c.d/24
	bits := p.Bits() - (p.Addr().BitLen() - addr.BitLen())
	if bits < 0 {
		return nil, 0, fmt.Errorf("address %s: prefix too short for an IPv4-mapped address", p)
	}
	p = netip.PrefixFrom(addr, bits)
	if addr.IsUnspecified() || addr.IsMulticast() || addr.IsLoopback() || addr.Zone() != "" {
		return nil, 0, fmt.Errorf("address %s cannot be a floating address", p)
	}
	a.prefix = p
	if a.ifName == "" || len(a.ifName) >= unix.IFNAMSIZ {
		return nil, 0, fmt.Errorf("interface %q is not a valid interface name", a.ifName)
	}
	if v := s.Params["garp_count"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxGARPCount {
			return nil, 0, fmt.Errorf("garp_count %q must be an integer from 0 to %d", v, maxGARPCount)
		}
		a.count = n
	}
	if v := s.Params["garp_interval"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond || d > time.Minute {
			return nil, 0, fmt.Errorf("garp_interval %q must be a duration from 10ms to 1m", v)
		}
		a.interval = d
	}
	var refresh time.Duration
	if v := s.Params["garp_refresh"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < time.Second) {
			return nil, 0, fmt.Errorf("garp_refresh %q must be 0 (off) or a duration of at least 1s", v)
		}
		refresh = d
	}
	return a, refresh, nil
}

// Start configures the address (replacing it if present) and sends the first
// announcement round before returning.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopBurst()

	err := a.withLink(ctx, a.add)
	if err != nil {
		return err
	}
	if a.count == 0 {
		return nil
	}
	an, err := a.openAnnouncer()
	if err != nil {
		return fmt.Errorf("address %s added, but cannot announce it: %w", a.prefix, err)
	}
	if an == nil {
		return nil // no link layer to announce on
	}
	if err := an.round(); err != nil {
		a.pool.release(an)
		return fmt.Errorf("address %s added, but announcing it failed: %w", a.prefix, err)
	}
	// The announcer owns an from here, even with no rounds left: it
	// closes the sockets off the latency path.
	a.pool.burst(a, an, a.count-1, a.interval)
	return nil
}

// add configures the address on link (replacing it if present).
func (a *Agent) add(h *netlink.Handle, link netlink.Link) error {
	nlAddr := &netlink.Addr{IPNet: ipNet(a.prefix)}
	setLifetime(nlAddr, a.lifetime)
	if a.prefix.Addr().Is6() {
		// Skip duplicate address detection: the address must be usable
		// now, not after a second of "tentative".
		nlAddr.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrReplace(link, nlAddr); err != nil {
		return fmt.Errorf("add %s to %s: %w", a.prefix, a.ifName, err)
	}
	return nil
}

// Stop cancels pending announcements and removes the address. An absent
// address or interface is success: the address is not served from here.
func (a *Agent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopBurst()

	err := a.withLink(ctx, func(h *netlink.Handle, link netlink.Link) error {
		addrs, err := a.matching(h, link)
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			// Delete whatever prefix length it carries: leaving the IP
			// behind because someone re-added it as /32 would mean two owners.
			if err := h.AddrDel(link, &ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return fmt.Errorf("remove %s from %s: %w", ad.IPNet, a.ifName, err)
			}
		}
		return nil
	})
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		a.log.Warn("interface is gone, so the address is too", "interface", a.ifName, "address", a.prefix)
		return nil
	}
	return err
}

// Monitor reports Running while the address is on the interface.
func (a *Agent) Monitor(ctx context.Context) (resources.State, error) {
	var state resources.State
	err := a.withLink(ctx, func(h *netlink.Handle, link netlink.Link) error {
		addrs, err := a.matching(h, link)
		if err != nil {
			return err
		}
		state, err = a.stateOf(addrs)
		return err
	})
	if err != nil {
		return resources.Failed, err
	}
	return state, nil
}

// stateOf is the state of the address given the link's copies of it (any
// prefix length): running if present, failed if its duplicate address
// detection failed.
func (a *Agent) stateOf(addrs []netlink.Addr) (resources.State, error) {
	for _, ad := range addrs {
		if ad.Flags&unix.IFA_F_DADFAILED != 0 {
			return resources.Failed, fmt.Errorf("address %s on %s failed duplicate address detection", a.prefix, a.ifName)
		}
	}
	if len(addrs) == 0 {
		return resources.Stopped, nil
	}
	return resources.Running, nil
}

// refresh sends one announcement round if the address is configured.
func (a *Agent) refresh(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pool.busy(a) {
		return nil // the start burst is still announcing
	}
	st, err := a.Monitor(ctx)
	if err != nil {
		return err
	}
	if st != resources.Running {
		return fmt.Errorf("address %s is not on %s", a.prefix, a.ifName)
	}
	an, err := a.openAnnouncer()
	if err != nil || an == nil {
		return err
	}
	err = an.round()
	a.pool.release(an)
	return err
}

// Announce sends a fresh announcement burst (garp_count rounds, the first
// before it returns) for an address configured here. The executor calls it
// when neighbours may hold another node's MAC for the address: a node that
// was lost rejoined (it may have answered for it, or had a stale copy), or
// the group started with the address already up (its start burst is long
// gone). It is an error when the address is not on the interface.
func (a *Agent) Announce(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.Monitor(ctx)
	if err != nil {
		return err
	}
	if st != resources.Running {
		return fmt.Errorf("address %s is not on %s", a.prefix, a.ifName)
	}
	if a.count == 0 {
		return nil // announcements are off (garp_count = 0)
	}
	an, err := a.openAnnouncer()
	if err != nil || an == nil {
		return err
	}
	a.stopBurst()
	if err := an.round(); err != nil {
		a.pool.release(an)
		return fmt.Errorf("announcing %s failed: %w", a.prefix, err)
	}
	a.pool.burst(a, an, a.count-1, a.interval)
	return nil
}

// stopBurst cancels background announcements and waits until none can be
// sent any more: after Stop returns, this node must stay silent.
func (a *Agent) stopBurst() {
	if a.pool != nil {
		a.pool.cancel(a)
	}
}

// withLink runs fn with a netlink handle and the configured link.
func (a *Agent) withLink(ctx context.Context, fn func(*netlink.Handle, netlink.Link) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := a.handle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	var link netlink.Link
	err = retryDump(func() (err error) {
		link, err = h.LinkByName(a.ifName)
		return err
	})
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("interface %q does not exist on this node: %w", a.ifName, err)
	}
	if err != nil {
		return fmt.Errorf("look up interface %q: %w", a.ifName, err)
	}
	return fn(h, link)
}

// matching lists the link's addresses equal to ours (any prefix length).
func (a *Agent) matching(h *netlink.Handle, link netlink.Link) ([]netlink.Addr, error) {
	present, err := addressesOn(h, link, []*Agent{a}, []int{0})
	return present[a.prefix.Addr()], err
}

// retryDump retries a netlink dump the kernel interrupted because the
// table changed under it (netlink >= 1.3 reports that instead of hiding it).
func retryDump(fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}
