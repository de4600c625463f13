package ipaddr

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/resources"
)

// An address added with a lifetime stays while it is renewed and is removed
// by the kernel itself once nobody renews it: the crash guard's last line
// when agent and guard are both gone (IPv4 and IPv6).
func TestLifetimeRenewedOrRemovedByTheKernel(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	for _, addr := range []string{"198.18.0.100/24", "2001:2:0:18::100/64"} {
		t.Run(addr, func(t *testing.T) {
			ag, err := NewWithLifetime(2 * time.Second)(resources.Spec{Name: "vip",
				Params: map[string]string{"address": addr, "interface": "eth0", "garp_count": "1"}})
			if err != nil {
				t.Fatal(err)
			}
			a := ag.(*Agent)
			a.nsPath = nsPath(l.a)
			h := &Holder{a: &Agent{prefix: a.prefix, ifName: a.ifName, log: a.log, nsPath: a.nsPath}}
			if err := a.Start(ctx); err != nil {
				t.Fatal(err)
			}
			// Renewed every 500 ms for 4 s: twice the lifetime.
			for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
				if ok, err := h.Renew(ctx, 2*time.Second); err != nil || !ok {
					t.Fatalf("renew: present %v, %v", ok, err)
				}
			}
			if st, err := a.Monitor(ctx); st != resources.Running || err != nil {
				t.Fatalf("renewed address gone: %v %v", st, err)
			}
			// Not renewed: the kernel removes it within lifetime + 1 s.
			from := time.Now()
			for {
				st, err := a.Monitor(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st == resources.Stopped {
					break
				}
				if time.Since(from) > 4*time.Second {
					t.Fatalf("address still configured %v after its last renewal (lifetime 2 s)", time.Since(from))
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Renew never re-creates an absent address.
			if ok, err := h.Renew(ctx, 2*time.Second); ok || err != nil {
				t.Errorf("renew of an absent address: present %v, %v", ok, err)
			}
			if st, _ := a.Monitor(ctx); st != resources.Stopped {
				t.Error("renew re-created the address")
			}
		})
	}
}
