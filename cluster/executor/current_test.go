package executor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// restartedRig is node n1 just after its agent restarted: the group's
// resources are still up (found by the probe), a lease or not, and the local
// state is the stale snapshot (n1 holds web, no maintenance). sync stands
// in for the leader confirming the state.
func restartedRig(t *testing.T, lease time.Duration, held bool, sync func(context.Context) error) *rig {
	return newRig(t, 3, func(r *rig) {
		r.assign("n1")
		r.mustApply(t, &state.GroupReport{Group: "web", Node: "n1", State: state.GroupStarted, Time: time.Now(),
			Epoch: r.store.Read().Groups["web"].Epoch})
		r.lease.Store(held)
		r.agents["vip"].running.Store(true)
		r.agents["haproxy"].running.Store(true)
		for _, x := range r.exec.runners {
			x.d.Sync = sync
		}
		r.exec.d.Config.Cluster.Timing.Lease = lease
	})
}

// TestRestartInMaintenanceLeavesResourcesAlone: the cluster went into
// maintenance before the agent restarted, but the restarted agent's state
// machine learns that only once the leader tells it what is committed. It
// must not act on the stale state meanwhile (it used to stop the VIP).
func TestRestartInMaintenanceLeavesResourcesAlone(t *testing.T) {
	confirm := make(chan struct{})
	r := restartedRig(t, time.Minute, false, func(ctx context.Context) error {
		select {
		case <-confirm:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	time.Sleep(100 * time.Millisecond) // runs step after step, unconfirmed
	r.mustApply(t, &state.SetMaintenance{On: true, Time: time.Now()})
	close(confirm)
	time.Sleep(100 * time.Millisecond)
	if calls := r.log.get(); len(calls) != 0 {
		t.Fatalf("acted before the state was confirmed: %v", calls)
	}
	if !r.agents["vip"].running.Load() {
		t.Fatal("the VIP was stopped in maintenance")
	}
}

// TestRestartWithoutLeaderStopsAfterTheLease: no leader confirms the state
// (an isolated node, or the whole cluster rebooting); within a lease of its
// start the agent acts on what it has: no lease, so it stops, VIP first.
func TestRestartWithoutLeaderStopsAfterTheLease(t *testing.T) {
	const lease = 150 * time.Millisecond
	start := time.Now()
	r := restartedRig(t, lease, false, func(context.Context) error { return errors.New("no leader") })
	r.wait(t, "stopped", func() bool { return !r.agents["vip"].running.Load() && !r.agents["haproxy"].running.Load() })
	if took := time.Since(start); took < lease {
		t.Fatalf("stopped %v after the start, before the lease (%v) was out", took, lease)
	}
	if calls := r.log.get(); calls[0] != "stop vip" {
		t.Fatalf("the VIP must go first: %v", calls)
	}
}

// TestRestartConfirmedActsAtOnce: once the leader confirms the state, a
// restarted agent without a lease stops at once (no waiting out the lease).
func TestRestartConfirmedActsAtOnce(t *testing.T) {
	r := restartedRig(t, time.Minute, false, func(context.Context) error { return nil })
	r.wait(t, "stopped", func() bool { return !r.agents["vip"].running.Load() })
}

// TestMaintenanceOffReprobesAndReports: haproxy was stopped by hand during
// maintenance. When maintenance ends the runner looks again (no failure
// counted: nothing failed under its watch), starts what is missing, and
// reports, which makes the group managed again for the leader.
func TestMaintenanceOffReprobesAndReports(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.mustApply(t, &state.SetMaintenance{On: true, Time: time.Now()})
	if !r.store.Read().Groups["web"].Unmanaged {
		t.Fatal("maintenance on: the group should be unmanaged")
	}
	time.Sleep(50 * time.Millisecond)
	r.agents["haproxy"].running.Store(false) // by hand
	r.mustApply(t, &state.SetMaintenance{On: false, Time: time.Now()})
	r.wait(t, "managed again", func() bool {
		g := r.store.Read().Groups["web"]
		return !g.Unmanaged && g.State == state.GroupStarted && r.agents["haproxy"].running.Load()
	})
	if n := r.store.Read().Groups["web"].FailCount("n1"); n != 0 {
		t.Fatalf("fail count %d after maintenance: a hand-made change is no failure", n)
	}
	if calls := r.log.get(); len(calls) != 3 || calls[2] != "start haproxy" {
		t.Fatalf("calls %v, want haproxy started again and nothing else", calls)
	}
}

// TestRestartWithLeaseWaitsForTheState: the leader answers this node (it has
// a lease) but has not replicated to it yet (raft backs off from a peer that
// was down): the runner keeps waiting past the lease, since nothing it runs
// can be released under it meanwhile.
func TestRestartWithLeaseWaitsForTheState(t *testing.T) {
	r := restartedRig(t, 20*time.Millisecond, true, func(context.Context) error { return errors.New("state not caught up") })
	time.Sleep(150 * time.Millisecond)
	if calls := r.log.get(); len(calls) != 0 {
		t.Fatalf("acted on an unconfirmed state: %v", calls)
	}
}

// TestStopBeforeTheStateIsConfirmedLeavesResources: an agent stopped again
// before any leader confirmed its state never took charge of what it found
// running, so its clean stop leaves that as it was.
func TestStopBeforeTheStateIsConfirmedLeavesResources(t *testing.T) {
	r := restartedRig(t, time.Minute, true, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	time.Sleep(50 * time.Millisecond)
	r.stop()
	if calls := r.log.get(); len(calls) != 0 {
		t.Fatalf("stopped what it never took charge of: %v", calls)
	}
	if r.runErr != nil {
		t.Fatalf("Run: %v", r.runErr)
	}
}

// TestConfirmedAfterAWaitProbesAgain: what the start-up probe saw is as old
// as the wait for the leader; haproxy died meanwhile. Once confirmed, the
// runner looks again and starts it, counting no failure (it never ran
// under this agent's watch).
func TestConfirmedAfterAWaitProbesAgain(t *testing.T) {
	var ok atomic.Bool
	r := restartedRig(t, time.Minute, true, func(context.Context) error {
		if ok.Load() {
			return nil
		}
		return errors.New("state not caught up")
	})
	time.Sleep(50 * time.Millisecond)
	r.agents["haproxy"].running.Store(false)
	ok.Store(true)
	r.wait(t, "haproxy started again", func() bool { return r.agents["haproxy"].running.Load() })
	if n := r.store.Read().Groups["web"].FailCount("n1"); n != 0 {
		t.Fatalf("fail count %d: a resource that died before the agent took charge is no failure", n)
	}
	if calls := r.log.get(); len(calls) != 1 || calls[0] != "start haproxy" {
		t.Fatalf("calls %v, want only haproxy started", calls)
	}
}
