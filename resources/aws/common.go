// Package aws holds vigil's AWS resource agents: awseip (Elastic IP),
// awsip (secondary private IP), awsroute (route-table overlay IP) and ebs
// (volume). Each talks to EC2 through the SDK's default configuration
// (credentials chain, AWS_ENDPOINT_URL_EC2, region from IMDS), learns its own
// instance and ENI from IMDS, and confirms every change by polling Describe*
// every 250ms until it shows, bounded by the operation's ctx.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/resources"
)

// base is what every agent shares: clients, identity, polling, local addresses.
type base struct {
	clients  *awsapi.Lazy
	interval time.Duration
	log      hclog.Logger
	nl       *netlink.Handle // netlink in the agent's namespace; zero Handle = current

	claimed atomic.Bool // Start succeeded and no Stop since: a "not ours" may be a stale read

	mu         sync.Mutex
	instanceID string
	eni        string // from the eni param, else IMDS (primary interface)
}

func newBase(s resources.Spec, o awsapi.Options) base {
	log := s.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return base{clients: &awsapi.Lazy{Options: o}, interval: awsapi.PollInterval,
		log: log.With("resource", s.Name), nl: &netlink.Handle{}, eni: s.Params["eni"]}
}

// self returns the clients and this node's instance id and ENI (cached).
func (b *base) self(ctx context.Context) (c *awsapi.Clients, instance, eni string, err error) {
	if c, err = b.clients.Get(ctx); err != nil {
		return nil, "", "", err
	}
	b.mu.Lock()
	instance, eni = b.instanceID, b.eni
	b.mu.Unlock()
	if instance == "" {
		if instance, err = c.InstanceID(ctx); err != nil {
			return nil, "", "", err
		}
	}
	if eni == "" {
		if eni, err = c.PrimaryENI(ctx); err != nil {
			return nil, "", "", err
		}
	}
	b.mu.Lock()
	b.instanceID, b.eni = instance, eni
	b.mu.Unlock()
	return c, instance, eni, nil
}

// poll re-checks until done; API errors (throttling that outlived the SDK's
// retries, transient 5xx) are retried until ctx ends.
func (b *base) poll(ctx context.Context, check func(ctx context.Context) (bool, error)) error {
	return awsapi.Poll(ctx, b.interval, func(ctx context.Context) (bool, error, error) {
		done, err := check(ctx)
		return done, err, nil
	})
}

// staleReads is how many extra reads a monitor makes before it believes a
// "not ours": EC2 is eventually consistent, and right after a move a
// Describe call can still show the old owner (seen for seconds in real AWS).
const staleReads = 3

// claim records a successful Start.
func (b *base) claim(err error) error {
	if err == nil {
		b.claimed.Store(true)
	}
	return err
}

// settled runs a monitor and, when a resource this agent started does not
// read as Running, reads again a few times at the poll interval, so one stale
// read does not fail a resource that was just moved here. A genuine loss is
// still seen within about a second; a resource not started here (the
// start-up probe on a standby) is read once.
func (b *base) settled(ctx context.Context, monitor func(context.Context) (resources.State, error)) (resources.State, error) {
	st, err := monitor(ctx)
	for i := 0; i < staleReads && st != resources.Running && b.claimed.Load(); i++ {
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(b.interval):
		}
		st, err = monitor(ctx)
	}
	return st, err
}

func hostAddr(ip net.IP) *netlink.Addr {
	bits := 32
	if ip.To4() == nil {
		bits = 128
	}
	return &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}}
}

// addLocal adds ip/32 to ifname (idempotent). A host route is enough: the
// VPC, not ARP, decides where the address is delivered.
func (b *base) addLocal(ifname string, ip net.IP) error {
	l, err := b.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("interface %s: %w", ifname, err)
	}
	if err := b.nl.AddrReplace(l, hostAddr(ip)); err != nil {
		return fmt.Errorf("add %s to %s: %w", ip, ifname, err)
	}
	return nil
}

func (b *base) delLocal(ifname string, ip net.IP) error {
	l, err := b.nl.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("interface %s: %w", ifname, err)
	}
	err = b.nl.AddrDel(l, hostAddr(ip))
	if err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("remove %s from %s: %w", ip, ifname, err)
	}
	return nil
}

func (b *base) hasLocal(ifname string, ip net.IP) (bool, error) {
	l, err := b.nl.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, fmt.Errorf("interface %s: %w", ifname, err)
	}
	addrs, err := b.nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		if a.IP.Equal(ip) {
			return true, nil
		}
	}
	return false, nil
}

func parseIP(name, v string, required bool) (net.IP, error) {
	if v == "" {
		if required {
			return nil, fmt.Errorf("%s is required", name)
		}
		return nil, nil
	}
	ip := net.ParseIP(v)
	if ip == nil {
		return nil, fmt.Errorf("%s: %q is not an IP address", name, v)
	}
	return ip, nil
}
