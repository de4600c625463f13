package executor

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// fakeGuard records the crash-guard calls in the agents' call log.
type fakeGuard struct {
	log     *log
	lapsed  atomic.Bool // refuses holds as the guard does once the deadline passed
	refuse  atomic.Bool
	holding atomic.Bool
	lapses  atomic.Uint64
}

func (g *fakeGuard) Lapses() uint64 { return g.lapses.Load() }

func (g *fakeGuard) Hold(_ context.Context, key, address, iface string) error {
	if g.lapsed.Load() {
		g.log.add("hold refused " + key)
		return errors.New("the agent holds no lease: refusing to guard a new address")
	}
	if g.refuse.Load() {
		g.log.add("hold refused " + key)
		return errors.New("no guard")
	}
	g.log.add("hold " + key + " " + address + " " + iface)
	g.holding.Store(true)
	return nil
}
func (g *fakeGuard) Release(_ context.Context, key string) {
	g.log.add("release " + key)
	g.holding.Store(false)
}
func (g *fakeGuard) Keep(_ context.Context, key, _, _ string) error {
	g.log.add("keep " + key)
	g.holding.Store(false)
	return nil
}

func newGuardedRig(t *testing.T, tweak ...func(*configs.Config)) (*rig, *fakeGuard) {
	r := &rig{store: state.NewFSM(nil), log: &log{}, agents: map[string]*fake{}}
	r.lease.Store(true)
	g := &fakeGuard{log: r.log}
	res := func(typ, name string, p map[string]string) configs.Resource {
		return configs.Resource{Type: typ, Name: name, Params: p, StartTimeout: time.Second, StopTimeout: time.Second,
			MonitorTimeout: time.Second, MonitorInterval: 20 * time.Millisecond, OnFail: "restart"}
	}
	cfg := &configs.Config{NodeName: "n1", Nodes: []configs.Node{{Name: "n1"}, {Name: "n2"}},
		Groups: []configs.Group{{Name: "web", MigrationThreshold: 3,
			Resources: []configs.Resource{
				res("ipaddr", "vip", map[string]string{"address": "198.18.0.100/24", "interface": "eth0"}),
				res("exec", "haproxy", nil)}}}}
	for _, f := range tweak {
		f(cfg)
	}
	mk := func(s resources.Spec) (resources.Agent, error) {
		f := &fake{name: s.Name, log: r.log}
		r.agents[s.Name] = f
		return f, nil
	}
	e, err := New(Deps{Config: cfg, Store: r.store, Lease: r.lease.Load, Guard: g,
		Agents: resources.Registry{"exec": mk, "ipaddr": mk},
		Report: func(_ context.Context, c state.Command) error {
			r.mu.Lock()
			r.reports = append(r.reports, c)
			r.mu.Unlock()
			return r.apply(c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.exec = e
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.runErr = e.Run(ctx) }()
	t.Cleanup(r.stop)
	return r, g
}

// The guard holds an address before it is added and lets it go before it
// is removed, so no lifetime renewal can re-create a removed address.
func TestGuardHoldsBeforeAddAndReleasesBeforeRemove(t *testing.T) {
	r, _ := newGuardedRig(t)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.assign("")
	r.wait(t, "released", func() bool { return r.store.Read().Groups["web"].Holder == "" })
	want := []string{"hold web/vip 198.18.0.100/24 eth0", "start vip", "start haproxy", "stop haproxy", "release web/vip", "stop vip"}
	if got := r.log.get(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
}

// No guard, no address: nobody would remove it after a crash.
func TestNoAddressWithoutTheGuard(t *testing.T) {
	r, g := newGuardedRig(t)
	g.refuse.Store(true)
	r.assign("n1")
	r.wait(t, "a failure", func() bool { return r.groupState() == state.GroupFailed })
	if slices.Contains(r.log.get(), "start vip") {
		t.Fatalf("the VIP was added although the guard refused it: %v", r.log.get())
	}
}

// In maintenance the guard leaves the addresses alone (an agent restart
// must not drop them); afterwards it holds them again.
func TestMaintenanceTakesTheAddressFromTheGuard(t *testing.T) {
	r, g := newGuardedRig(t)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.mustApply(t, &state.SetMaintenance{On: true, Time: time.Now()})
	r.wait(t, "keep", func() bool { return slices.Contains(r.log.get(), "keep web/vip") })
	if g.holding.Load() {
		t.Fatal("still held in maintenance")
	}
	r.mustApply(t, &state.SetMaintenance{On: false, Time: time.Now()})
	r.wait(t, "held again", g.holding.Load)
	if got := r.log.get(); slices.Contains(got, "stop vip") {
		t.Errorf("maintenance stopped the VIP: %v", got)
	}
}

// An address the crash guard removed when the lease lapsed for a moment is
// no failure of the resource: it is started again, with no fail count (a
// busy machine would otherwise reach the migration threshold everywhere).
func TestAddressRemovedByTheGuardIsRestartedWithoutAFailure(t *testing.T) {
	r, g := newGuardedRig(t)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	starts := func() int {
		n := 0
		for _, c := range r.log.get() {
			if c == "start vip" {
				n++
			}
		}
		return n
	}
	for range 3 {
		before := starts()
		g.lapses.Add(1)
		r.agents["vip"].running.Store(false) // the guard removed it
		r.wait(t, "the VIP started again", func() bool { return starts() > before && r.agents["vip"].running.Load() })
	}
	g2 := r.store.Read().Groups["web"]
	for _, res := range g2.Resources {
		if len(res.FailCount) > 0 {
			t.Errorf("fail counts %v after guard removals", res.FailCount)
		}
	}
	if g2.State != state.GroupStarted || g2.Holder != "n1" {
		t.Errorf("group %s on %q, want started on n1", g2.State, g2.Holder)
	}
	// Gone without a lapse: a failure.
	r.agents["vip"].running.Store(false)
	r.wait(t, "a fail count", func() bool {
		for _, res := range r.store.Read().Groups["web"].Resources {
			if len(res.FailCount) > 0 {
				return true
			}
		}
		return false
	})
}

// Told that the guard removed the addresses (GuardLapsed), the executor
// starts them again at once, not at its next monitor: a guard sweeps on the
// last deadline it was sent, so an agent that renewed a little late lost its
// VIP under a lease that still held, for as long as a monitor interval (a
// lab test under load saw a leader's VIP gone so).
func TestGuardLapseRestartsTheAddressBeforeItsMonitor(t *testing.T) {
	r, g := newGuardedRig(t, func(c *configs.Config) {
		for i := range c.Groups[0].Resources {
			c.Groups[0].Resources[i].MonitorInterval = time.Hour
		}
	})
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	for range 2 {
		n := len(r.log.get())
		g.lapses.Add(1)
		r.agents["vip"].running.Store(false) // the guard removed it
		r.exec.GuardLapsed()
		r.wait(t, "the VIP started again", func() bool {
			return slices.Contains(r.log.get()[n:], "start vip") && r.agents["vip"].running.Load()
		})
	}
	if got := r.log.get(); slices.Contains(got, "stop haproxy") {
		t.Errorf("the rest of the group was restarted: %v", got)
	}
}

// A hold the guard refuses because the lease lapsed (as it last heard) is no
// failure either: the start waits for the next renewal, with no fail count.
func TestHoldRefusedOnALapseIsNoFailure(t *testing.T) {
	r, g := newGuardedRig(t)
	g.lapsed.Store(true)
	r.assign("n1")
	r.wait(t, "a refused hold", func() bool { return slices.Contains(r.log.get(), "hold refused web/vip") })
	time.Sleep(50 * time.Millisecond)
	for _, res := range r.store.Read().Groups["web"].Resources {
		if len(res.FailCount) > 0 {
			t.Fatalf("fail counts %v after a hold refused on a lapse", res.FailCount)
		}
	}
	g.lapsed.Store(false)
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
}
