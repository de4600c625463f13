package ipaddr

import (
	"context"
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
