package executor

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// A settled runner sleeps until its lease end instead of polling, and must
// still stop its resources, address first, when the lease runs out unrenewed.
func TestSettledRunnerStopsAtTheLeaseEnd(t *testing.T) {
	var end atomic.Int64 // unix nanoseconds
	end.Store(time.Now().Add(time.Hour).UnixNano())
	leaseEnd := func() (time.Time, bool) {
		e := time.Unix(0, end.Load())
		return e, time.Now().Before(e)
	}
	r := newRig(t, 3, func(r *rig) {
		for _, rn := range r.exec.runners {
			rn.d.LeaseEnd = leaseEnd
			rn.d.Lease = func() bool { _, ok := leaseEnd(); return ok }
			for _, x := range rn.res {
				x.cfg.MonitorInterval = time.Hour // nothing else to wake it
				x.agent = r.agents[x.cfg.Name]    // no refresher either
			}
		}
	})
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	// The lease is renewed one last time, then no more: the runner, settled,
	// sleeps until that end.
	lapse := time.Now().Add(300 * time.Millisecond)
	end.Store(lapse.UnixNano())
	r.mustApply(t, &state.SetStandby{Node: "n2", Standby: false, Time: time.Now()}) // a state change: it looks again
	r.wait(t, "stopped", func() bool { return !r.agents["vip"].running.Load() && !r.agents["haproxy"].running.Load() })
	if late := time.Since(lapse); late > 150*time.Millisecond {
		t.Errorf("resources stopped %v after the lease end", late)
	}
	calls := r.log.get()
	if len(calls) < 4 || calls[2] != "stop vip" || calls[3] != "stop haproxy" {
		t.Fatalf("on lease loss the VIP must go first: %v", calls)
	}
}
