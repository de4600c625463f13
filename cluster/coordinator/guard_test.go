package coordinator

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
)

func TestGuardParamsRoundTripAndMerge(t *testing.T) {
	fast, _ := configs.TimingPreset("fast")
	g := GuardParamsFor(fast)
	if g.Lease != 300*time.Millisecond || g.LeaderLease != 100*time.Millisecond || g.Lifetime != 2*time.Second {
		t.Fatalf("fast: %+v", g)
	}
	lan, _ := configs.TimingPreset("lan")
	if l := GuardParamsFor(lan).Lifetime; l != 6*time.Second {
		t.Errorf("lan lifetime %s, want 6s", l)
	}
	back, err := ParseGuardParams(g.String())
	if err != nil || back != g {
		t.Fatalf("round trip of %q: %+v, %v", g.String(), back, err)
	}
	for _, bad := range []string{"", "lease=1s", "lease=x,leader=1s,lifetime=2s", "lease=-1s,leader=1s,lifetime=2s"} {
		if _, err := ParseGuardParams(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// A node gossiping a longer lease than ours is waited for by its lease.
	m := g.Merge(GuardParams{Lease: 3 * time.Second, LeaderLease: 100 * time.Millisecond, Lifetime: time.Second})
	if m.Lease != 3*time.Second || m.LeaderLease != g.LeaderLease || m.Lifetime != g.Lifetime {
		t.Errorf("merge: %+v", m)
	}
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	if e := AddressExpiry(at, g); !e.Equal(at.Add(3 * time.Second)) {
		t.Errorf("expiry %v", e)
	}
}
