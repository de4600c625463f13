package ipaddr

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/resources"
)

// Lifetimes are whole seconds in the kernel (IFA_CACHEINFO); the kernel
// removes an address whose valid lifetime ran out within about a second.

// setLifetime gives nlAddr a finite valid and preferred lifetime (0: keep
// the kernel's default, permanent). Preferred equals valid, so the address
// is never "deprecated" (IPv6 would stop using it as a source) before it goes.
func setLifetime(nlAddr *netlink.Addr, d time.Duration) {
	if d <= 0 {
		return
	}
	secs := int((d + time.Second - 1) / time.Second)
	nlAddr.ValidLft, nlAddr.PreferedLft = secs, secs
}

// Holder is the part of an ipaddr agent the crash guard drives: it renews
// the kernel lifetime of an address that is present and removes it.
type Holder struct{ a *Agent }

func resourcesSpec(address, ifName string, log hclog.Logger) resources.Spec {
	return resources.Spec{Name: address, Logger: log,
		Params: map[string]string{"address": address, "interface": ifName, "garp_count": "0"}}
}

// NewHolder builds a Holder for address (CIDR) on interface ifName, in the
// current network namespace.
func NewHolder(address, ifName string, log hclog.Logger) (*Holder, error) {
	a, _, err := parse(resourcesSpec(address, ifName, log))
	if err != nil {
		return nil, err
	}
	return &Holder{a: a}, nil
}

// String is "198.18.0.100/24 on eth0".
func (h *Holder) String() string { return fmt.Sprintf("%s on %s", h.a.prefix, h.a.ifName) }

// Remove deletes the address (any prefix length); absent is success.
func (h *Holder) Remove(ctx context.Context) error { return h.a.Stop(ctx) }

// Renew sets the lifetime of the address to d (0: permanent) if it is
// configured, and reports whether it was. It never adds an absent address on purpose; the
// caller must make sure nobody removes it concurrently (the kernel's
// replace would re-create it), which the guard does by stopping renewals
// of an address before the agent removes it.
func (h *Holder) Renew(ctx context.Context, d time.Duration) (bool, error) {
	a := h.a
	present := false
	err := a.withLink(ctx, func(nh *netlink.Handle, link netlink.Link) error {
		addrs, err := a.matching(nh, link)
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			present = true
			n := netlink.Addr{IPNet: ad.IPNet, Scope: ad.Scope}
			if ip, ok := netip.AddrFromSlice(ad.IP); ok && ip.Unmap().Is6() {
				n.Flags |= unix.IFA_F_NODAD
			}
			setLifetime(&n, d)
			if err := nh.AddrReplace(link, &n); err != nil {
				return fmt.Errorf("renew lifetime of %s on %s: %w", ad.IPNet, a.ifName, err)
			}
		}
		return nil
	})
	return present, err
}

// RenewAll is Renew(ctx, d) for many holders at once: one netlink handle per
// namespace and one address dump per interface and family, instead of one
// each per address (a group of 256 addresses renewed one by one keeps the
// guard busy for most of a second on a loaded machine).
func RenewAll(ctx context.Context, hs []*Holder, d time.Duration) error {
	type iface struct{ ns, name string }
	by := map[iface][]*Holder{}
	for _, h := range hs {
		k := iface{h.a.nsPath, h.a.ifName}
		by[k] = append(by[k], h)
	}
	var errs []error
	for _, list := range by {
		errs = append(errs, list[0].a.withLink(ctx, func(nh *netlink.Handle, link netlink.Link) error {
			return renewOn(nh, link, list, d)
		}))
	}
	return errors.Join(errs...)
}

// renewOn renews the lifetime of every address of list present on link.
func renewOn(nh *netlink.Handle, link netlink.Link, list []*Holder, d time.Duration) error {
	want := map[netip.Addr]bool{}
	for _, h := range list {
		want[h.a.prefix.Addr()] = true
	}
	var errs []error
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		var all []netlink.Addr
		err := retryDump(func() (err error) {
			all, err = nh.AddrList(link, family)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err))
			continue
		}
		for _, ad := range all {
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok || !want[ip.Unmap()] {
				continue
			}
			n := netlink.Addr{IPNet: ad.IPNet, Scope: ad.Scope}
			if ip.Unmap().Is6() {
				n.Flags |= unix.IFA_F_NODAD
			}
			setLifetime(&n, d)
			if err := nh.AddrReplace(link, &n); err != nil {
				errs = append(errs, fmt.Errorf("renew lifetime of %s on %s: %w", ad.IPNet, link.Attrs().Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
