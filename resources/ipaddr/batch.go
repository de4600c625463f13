package ipaddr

import (
	"context"
	"errors"
	"fmt"
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
	errs := make([]error, len(agents))
	type iface struct{ ns, name string }
	by := map[iface][]int{}
	var order []iface
	list := make([]*Agent, len(agents))
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
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], i)
	}
	for _, k := range order {
		idx := by[k]
		for _, i := range idx {
			list[i].mu.Lock()
			list[i].stopBurst()
		}
		err := list[idx[0]].withLink(ctx, func(h *netlink.Handle, link netlink.Link) error {
			return removeOn(h, link, list, idx, errs)
		})
		for _, i := range idx {
			list[i].mu.Unlock()
		}
		var nf netlink.LinkNotFoundError
		switch {
		case errors.As(err, &nf):
			list[idx[0]].log.Warn("interface is gone, so are its addresses", "interface", k.name)
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

// removeOn deletes, from one dump of link's addresses, every address (any
// prefix length) of the agents list[idx], noting each one's error.
func removeOn(h *netlink.Handle, link netlink.Link, list []*Agent, idx []int, errs []error) error {
	mine := map[netip.Addr][]int{}
	fams := map[int]bool{}
	for _, i := range idx {
		ip := list[i].prefix.Addr()
		mine[ip] = append(mine[ip], i)
		if ip.Is4() {
			fams[netlink.FAMILY_V4] = true
		} else {
			fams[netlink.FAMILY_V6] = true
		}
	}
	for fam := range fams {
		var all []netlink.Addr
		err := retryDump(func() (err error) {
			all, err = h.AddrList(link, fam)
			return err
		})
		if err != nil {
			return fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
		}
		for _, ad := range all {
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok {
				continue
			}
			for _, i := range mine[ip.Unmap()] {
				if err := h.AddrDel(link, &ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && errs[i] == nil {
					errs[i] = fmt.Errorf("remove %s from %s: %w", ad.IPNet, list[i].ifName, err)
				}
			}
		}
	}
	return nil
}
