package ipaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/resources"
)

// StopMany is Stop for many ipaddr agents at once (the executor stops a
// group's run of addresses with it): one netlink handle and one address
// dump per interface instead of one each per address, which for hundreds
// of addresses was most of the time a standby took. It returns each one's
// error, in order; an agent of another type gets an error and is left
// alone. The receiver only stands for the type.
func (a *Agent) StopMany(ctx context.Context, agents []resources.Agent) []error {
	list, byIface, errs := byInterface(agents)
	for _, idx := range byIface {
		lockQuiet(list, idx)
		err := list[idx[0]].withLink(ctx, func(h *netlink.Handle, link netlink.Link) error {
			return removeOn(h, link, list, idx, errs)
		})
		unlock(list, idx)
		var nf netlink.LinkNotFoundError
		switch {
		case errors.As(err, &nf):
			list[idx[0]].log.Warn("interface is gone, so are its addresses", "interface", list[idx[0]].ifName)
		case err != nil:
			for _, i := range idx {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

// byInterface unwraps ipaddr agents and groups their positions by
// interface (namespace and name), in order of first appearance; an agent of
// another type gets an error and is left out.
func byInterface(agents []resources.Agent) (list []*Agent, byIface [][]int, errs []error) {
	errs = make([]error, len(agents))
	type iface struct{ ns, name string }
	at := map[iface]int{}
	list = make([]*Agent, len(agents))
	for i, x := range agents {
		switch v := x.(type) {
		case *Agent:
			list[i] = v
		case *refreshingAgent:
			list[i] = v.Agent
		default:
			errs[i] = fmt.Errorf("not an ipaddr agent: %T", x)
			continue
		}
		k := iface{list[i].nsPath, list[i].ifName}
		n, ok := at[k]
		if !ok {
			n = len(byIface)
			at[k] = n
			byIface = append(byIface, nil)
		}
		byIface[n] = append(byIface[n], i)
	}
	return list, byIface, errs
}

// lockQuiet locks the agents list[idx] and stops their announcement bursts,
// before a batch changes their addresses; unlock ends it.
func lockQuiet(list []*Agent, idx []int) {
	for _, i := range idx {
		list[i].mu.Lock()
		list[i].stopBurst()
	}
}

func unlock(list []*Agent, idx []int) {
	for _, i := range idx {
		list[i].mu.Unlock()
	}
}

// removeOn deletes, from one dump of link's addresses, every address (any
// prefix length) of the agents list[idx], noting each one's error.
func removeOn(h *netlink.Handle, link netlink.Link, list []*Agent, idx []int, errs []error) error {
	present, err := addressesOn(h, link, list, idx)
	if err != nil {
		return err
	}
	for _, i := range idx {
		for _, ad := range present[list[i].prefix.Addr()] {
			if err := h.AddrDel(link, &ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && errs[i] == nil {
				errs[i] = fmt.Errorf("remove %s from %s: %w", ad.IPNet, list[i].ifName, err)
			}
		}
	}
	return nil
}

// StartMany is Start for many ipaddr agents at once: one netlink handle
// per interface for adding them, one interface lookup for announcing them.
// It returns each one's error, in order (an agent of another type gets an
// error and is left alone).
func (a *Agent) StartMany(ctx context.Context, agents []resources.Agent) []error {
	list, byIface, errs := byInterface(agents)
	for _, idx := range byIface {
		lockQuiet(list, idx)
		err := list[idx[0]].withLink(ctx, func(h *netlink.Handle, link netlink.Link) error {
			for _, i := range idx {
				errs[i] = list[i].add(h, link)
			}
			return nil
		})
		if err != nil {
			for _, i := range idx {
				errs[i] = err
			}
		}
		list[idx[0]].announceMany(list, idx, errs)
		unlock(list, idx)
	}
	return errs
}

// announceMany sends the first round for each agent of list[idx] that was
// added (errs nil) and hands the rest of its burst to its announcer, with
// one lookup of the (shared) interface.
func (a *Agent) announceMany(list []*Agent, idx []int, errs []error) {
	var ifi *net.Interface
	err := a.inNS(func() (err error) {
		ifi, err = net.InterfaceByName(a.ifName)
		return err
	})
	for _, i := range idx {
		x := list[i]
		if errs[i] != nil || x.count == 0 {
			continue
		}
		if err != nil {
			errs[i] = fmt.Errorf("address %s added, but cannot announce it: interface %q: %w", x.prefix, x.ifName, err)
			continue
		}
		var an *announcer
		err := x.inNS(func() (err error) {
			an, err = x.announcerOn(ifi)
			return err
		})
		if err != nil {
			errs[i] = fmt.Errorf("address %s added, but cannot announce it: %w", x.prefix, err)
			continue
		}
		if an == nil {
			continue
		}
		if err := an.round(); err != nil {
			x.pool.release(an)
			errs[i] = fmt.Errorf("address %s added, but announcing it failed: %w", x.prefix, err)
			continue
		}
		x.pool.burst(x, an, x.count-1, x.interval)
	}
}

// MonitorMany is Monitor for many ipaddr agents at once: one netlink handle
// and one address dump per interface and family, instead of one each per
// address (256 addresses monitored one by one parsed the interface's 256
// addresses 256 times every monitor_interval). It returns each one's state
// and error, in order; an agent of another type gets an error.
func (a *Agent) MonitorMany(ctx context.Context, agents []resources.Agent) ([]resources.State, []error) {
	list, byIface, errs := byInterface(agents)
	states := make([]resources.State, len(agents))
	for i := range states {
		states[i] = resources.Failed
	}
	for _, idx := range byIface {
		err := list[idx[0]].withLink(ctx, func(h *netlink.Handle, link netlink.Link) error {
			present, err := addressesOn(h, link, list, idx)
			if err != nil {
				return err
			}
			for _, i := range idx {
				states[i], errs[i] = list[i].stateOf(present[list[i].prefix.Addr()])
			}
			return nil
		})
		if err != nil {
			for _, i := range idx {
				states[i], errs[i] = resources.Failed, err
			}
		}
	}
	return states, errs
}

// addressesOn dumps link's addresses of the families of list[idx] (one dump
// per family), by address (any prefix length).
func addressesOn(h *netlink.Handle, link netlink.Link, list []*Agent, idx []int) (map[netip.Addr][]netlink.Addr, error) {
	fams := map[int]bool{}
	for _, i := range idx {
		if list[i].prefix.Addr().Is4() {
			fams[netlink.FAMILY_V4] = true
		} else {
			fams[netlink.FAMILY_V6] = true
		}
	}
	out := map[netip.Addr][]netlink.Addr{}
	for fam := range fams {
		var all []netlink.Addr
		err := retryDump(func() (err error) {
			all, err = h.AddrList(link, fam)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
		}
		for _, ad := range all {
			if ip, ok := netip.AddrFromSlice(ad.IP); ok {
				out[ip.Unmap()] = append(out[ip.Unmap()], ad)
			}
		}
	}
	return out, nil
}
