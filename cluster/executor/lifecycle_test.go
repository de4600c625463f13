package executor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// A witness builds no agents (their binaries need not exist there) and
// never starts, stops, monitors or probes anything, whatever the state says.
func TestWitnessRunsNoResources(t *testing.T) {
	built := 0
	reg := resources.Registry{"exec": func(resources.Spec) (resources.Agent, error) {
		built++
		return nil, errors.New("haproxy-ctl: not found")
	}}
	cfg := &configs.Config{NodeName: "w", Nodes: []configs.Node{{Name: "n1"}, {Name: "w", Witness: true}},
		Groups: []configs.Group{{Name: "web", Resources: []configs.Resource{{Type: "exec", Name: "haproxy",
			StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second, MonitorInterval: 10 * time.Millisecond}}}}}
	fsm := state.NewFSM(nil)
	e, err := New(Deps{Config: cfg, Store: fsm, Lease: func() bool { return true }, Agents: reg,
		Report: func(context.Context, state.Command) error { return errors.New("a witness reports nothing") }})
	if err != nil {
		t.Fatalf("a witness must not need the group's agents: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if built != 0 || len(e.Local()) != 0 {
		t.Fatalf("witness built %d agents and reports groups %v", built, e.Local())
	}
}

// Same with an agent that does build: not one operation in a second.
func TestWitnessNeverTouchesAgents(t *testing.T) {
	r := newRigConfig(t, 3, true, func(r *rig) {
		if len(r.agents) != 0 {
			t.Fatalf("witness built agents %v", r.agents)
		}
	})
	r.assign("n1") // even a (corrupt) assignment to the witness changes nothing
	time.Sleep(300 * time.Millisecond)
	if calls := r.log.get(); len(calls) != 0 {
		t.Fatalf("witness ran %v", calls)
	}
}

// A failed stop of the group's holder blocks it after one attempt: no retry
// at all until cleanup, which allows exactly one more attempt.
func TestFailedStopIsNotRetriedWhileBlocked(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.agents["haproxy"].failOp.Store(true)
	r.assign("")
	r.wait(t, "blocked", func() bool { return r.groupState() == state.GroupBlocked })
	time.Sleep(time.Second)
	if n := r.log.count("stop haproxy"); n != 1 {
		t.Fatalf("stop attempts while blocked over 1s: %d, want 1 (calls %v)", n, r.log.get())
	}
	f := failureOf(t, r, "haproxy")
	if f.Op != "stop" || f.Attempts != 1 || !strings.Contains(f.Error, "stuck") || !f.Retry.IsZero() {
		t.Fatalf("status of a blocked stop = %+v, want 1 stop attempt, its error, no retry until cleanup", f)
	}
	if why := r.store.Read().Groups["web"].Reason; !strings.Contains(why, "stuck") || !strings.Contains(why, "cleanup") {
		t.Fatalf("blocked group's reason %q does not give the error and the way out", why)
	}

	r.mustApply(t, &state.Cleanup{Group: "web", Time: time.Now()})
	r.wait(t, "second attempt", func() bool { return r.log.count("stop haproxy") == 2 })
	r.wait(t, "blocked again", func() bool { return r.groupState() == state.GroupBlocked })
	time.Sleep(500 * time.Millisecond)
	if n := r.log.count("stop haproxy"); n != 2 {
		t.Fatalf("stop attempts after one cleanup: %d, want 2", n)
	}

	r.agents["haproxy"].failOp.Store(false)
	r.mustApply(t, &state.Cleanup{Group: "web", Time: time.Now()})
	r.wait(t, "released", func() bool { return r.store.Read().Groups["web"].Holder == "" })
	if fs := r.exec.Local()[0].Failures; len(fs) != 0 {
		t.Fatalf("failures after a clean stop: %+v", fs)
	}
}

// A resource this node does not hold but finds running (a stray left by a
// crash) and cannot stop is retried with exponential back-off: 1 s, 2 s...
func TestStrayStopBacksOff(t *testing.T) {
	r := newRig(t, 3, func(r *rig) {
		r.agents["haproxy"].running.Store(true)
		r.agents["haproxy"].failOp.Store(true)
	})
	time.Sleep(2500 * time.Millisecond) // attempts due at 0, 1 s, 3 s
	if n := r.log.count("stop haproxy"); n < 2 || n > 3 {
		t.Fatalf("stop attempts in 2.5 s: %d, want 2 (back-off 1 s, 2 s); calls %v", n, r.log.get())
	}
	f := failureOf(t, r, "haproxy")
	if f.Op != "stop" || f.Attempts < 2 || f.Retry.IsZero() || !strings.Contains(f.Error, "stuck") {
		t.Fatalf("status of a failing stray stop = %+v", f)
	}
	if until := time.Until(f.Retry); until <= 0 || until > 2*time.Second {
		t.Fatalf("next attempt in %v, want within the 2 s back-off", until)
	}
}

// A start that always fails is retried ever more slowly, not every 200 ms.
func TestFailingStartBacksOff(t *testing.T) {
	r := newRig(t, 0, func(r *rig) { r.agents["haproxy"].failStart.Store(true) })
	r.assign("n1")
	r.wait(t, "first start", func() bool { return r.log.count("start haproxy") == 1 })
	time.Sleep(3 * time.Second) // back-off 200, 400, 800, 1600 ms
	if n := r.log.count("start haproxy"); n < 3 || n > 5 {
		t.Fatalf("start attempts in 3 s: %d, want 4 (exponential back-off); calls %v", n, r.log.get())
	}
	if f := failureOf(t, r, "haproxy"); f.Op != "start" || f.Attempts < 3 || f.Retry.IsZero() {
		t.Fatalf("status of a failing start = %+v", f)
	}
}

// A resource that starts but never passes a monitor is restarted ever more
// slowly; a passing monitor ends the back-off.
func TestFailingMonitorBacksOff(t *testing.T) {
	r := newRig(t, 0, func(r *rig) { r.agents["haproxy"].dead.Store(true) })
	r.assign("n1")
	r.wait(t, "first start", func() bool { return r.log.count("start haproxy") == 1 })
	time.Sleep(3 * time.Second)
	starts := r.log.count("start haproxy")
	if starts < 3 || starts > 5 {
		t.Fatalf("restarts in 3 s of a resource whose monitor always fails: %d, want 4; calls %v", starts, r.log.get())
	}
	if m := r.agents["haproxy"].monitors.Load(); m > 20 {
		t.Fatalf("%d monitors in 3 s: busy loop", m)
	}
	r.agents["haproxy"].dead.Store(false)
	r.wait(t, "recovered", func() bool { return r.groupState() == state.GroupStarted })
	r.wait(t, "failure forgotten", func() bool { return len(r.exec.Local()[0].Failures) == 0 })
}

// When a node that was lost comes back online, the holder announces its
// addresses again.
func TestRejoinReannouncesAddresses(t *testing.T) {
	r := newRig(t, 3)
	r.mustApply(t, &state.SetNodeStatus{Node: "n2", Status: state.NodeOnline, Time: time.Now()})
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.mustApply(t, &state.SetNodeStatus{Node: "n2", Status: state.NodeFailed, Time: time.Now()})
	time.Sleep(100 * time.Millisecond)
	if n := r.vipRefresh.announced.Load(); n != 0 {
		t.Fatalf("announced %d times before anyone rejoined", n)
	}
	r.mustApply(t, &state.SetNodeStatus{Node: "n2", Status: state.NodeOnline, Time: time.Now()})
	r.wait(t, "re-announced", func() bool { return r.vipRefresh.announced.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := r.vipRefresh.announced.Load(); n != 1 {
		t.Fatalf("announced %d times for one rejoin", n)
	}
}

// An address found already up when the group starts here (the agent
// restarted with the VIP in place) is announced anyway.
func TestAddressAlreadyUpIsAnnouncedOnStart(t *testing.T) {
	r := newRig(t, 3, func(r *rig) {
		r.agents["vip"].running.Store(true)
		r.assign("n1") // the state this node finds when its agent restarts
	})
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	if n := r.vipRefresh.announced.Load(); n != 1 {
		t.Fatalf("address already up at start announced %d times, want 1", n)
	}
}

// A stop that fails at shutdown makes Run fail, naming what is still running.
func TestShutdownReportsWhatIsLeftRunning(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.agents["haproxy"].failOp.Store(true)
	r.stop()
	if !errors.Is(r.runErr, ErrLeftRunning) || !strings.Contains(r.runErr.Error(), "web/haproxy") ||
		!strings.Contains(r.runErr.Error(), "stuck") {
		t.Fatalf("Run = %v, want an error naming web/haproxy and its stop error", r.runErr)
	}
	if r.agents["vip"].running.Load() {
		t.Fatal("the address must still be removed")
	}
}

// In maintenance, shutdown leaves the resources alone.
func TestShutdownInMaintenanceLeavesResources(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.mustApply(t, &state.SetMaintenance{On: true, Time: time.Now()})
	r.stop()
	if r.runErr != nil || r.log.count("stop vip")+r.log.count("stop haproxy") != 0 {
		t.Fatalf("Run = %v, calls %v: maintenance must leave resources as they are", r.runErr, r.log.get())
	}
}

// A second signal (Hurry) during a stuck stop removes the addresses and
// returns at once instead of waiting out the stop timeout.
func TestHurryRemovesAddressesAndReturns(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.agents["haproxy"].hang.Store(true) // until its 1 s stop timeout
	r.cancel()
	r.wait(t, "stopping haproxy", func() bool { return r.log.count("stop haproxy") == 1 })
	start := time.Now()
	r.exec.Hurry()
	<-r.done
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("Run took %v after Hurry", d)
	}
	if r.agents["vip"].running.Load() {
		t.Fatal("Hurry must still remove the address")
	}
	if !errors.Is(r.runErr, ErrLeftRunning) || !strings.Contains(r.runErr.Error(), "web/haproxy") {
		t.Fatalf("Run = %v, want web/haproxy named as left running", r.runErr)
	}
}

// Hurry before the shutdown (the second signal came during the drain):
// only the addresses are stopped.
func TestHurryBeforeShutdownStopsOnlyAddresses(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.exec.Hurry()
	r.stop()
	if r.agents["vip"].running.Load() || r.log.count("stop haproxy") != 0 {
		t.Fatalf("calls %v: want the address removed and nothing else", r.log.get())
	}
	if !errors.Is(r.runErr, ErrLeftRunning) || !strings.Contains(r.runErr.Error(), "web/haproxy (not stopped)") {
		t.Fatalf("Run = %v", r.runErr)
	}
}

func failureOf(t *testing.T, r *rig, resource string) Failure {
	t.Helper()
	for _, f := range r.exec.Local()[0].Failures {
		if f.Resource == resource {
			return f
		}
	}
	t.Fatalf("no failure recorded for %s: %+v", resource, r.exec.Local())
	return Failure{}
}
