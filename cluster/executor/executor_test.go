package executor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// fakeStore is a settable replicated state.
type fakeStore struct {
	mu   sync.Mutex
	data *state.Data
	ch   chan struct{}
}

func (s *fakeStore) Read() *state.Data { s.mu.Lock(); defer s.mu.Unlock(); return s.data.Clone() }
func (s *fakeStore) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}
func (s *fakeStore) set(f func(d *state.Data)) {
	s.mu.Lock()
	f(s.data)
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// log records agent calls in order, across resources.
type log struct {
	mu    sync.Mutex
	calls []string
}

func (l *log) add(s string) { l.mu.Lock(); l.calls = append(l.calls, s); l.mu.Unlock() }
func (l *log) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

type fake struct {
	name    string
	log     *log
	running atomic.Bool
	failMon atomic.Bool // monitor reports stopped (the process died)
	failOp  atomic.Bool // start and stop fail
}

func (f *fake) Start(context.Context) error {
	f.log.add("start " + f.name)
	if f.failOp.Load() {
		return errors.New("boom")
	}
	f.running.Store(true)
	f.failMon.Store(false)
	return nil
}
func (f *fake) Stop(context.Context) error {
	f.log.add("stop " + f.name)
	if f.failOp.Load() {
		return errors.New("stuck")
	}
	f.running.Store(false)
	return nil
}
func (f *fake) Monitor(context.Context) (resources.State, error) {
	if f.running.Load() && !f.failMon.Load() {
		return resources.Running, nil
	}
	return resources.Stopped, nil
}

// refreshing is a fake with garp_refresh-like re-announcements.
type refreshing struct {
	*fake
	n atomic.Int32
}

func (r *refreshing) Refresh(context.Context) error  { r.n.Add(1); return nil }
func (r *refreshing) RefreshInterval() time.Duration { return 30 * time.Millisecond }

type rig struct {
	vipRefresh *refreshing
	store      *fakeStore
	lease      atomic.Bool
	log        *log
	agents     map[string]*fake
	mu         sync.Mutex
	reports    []state.Command
}

func newRig(t *testing.T, threshold int) *rig {
	r := &rig{store: &fakeStore{data: &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}},
		ch: make(chan struct{})}, log: &log{}, agents: map[string]*fake{}}
	r.lease.Store(true)
	res := func(typ, name string) configs.Resource {
		return configs.Resource{Type: typ, Name: name, StartTimeout: time.Second, StopTimeout: time.Second,
			MonitorTimeout: time.Second, MonitorInterval: 20 * time.Millisecond, OnFail: "restart"}
	}
	cfg := &configs.Config{NodeName: "n1", Groups: []configs.Group{{Name: "web", MigrationThreshold: threshold,
		Resources: []configs.Resource{res("ipaddr", "vip"), res("exec", "haproxy")}}}}
	reg := resources.Registry{}
	reg["exec"] = func(s resources.Spec) (resources.Agent, error) {
		f := &fake{name: s.Name, log: r.log}
		r.agents[s.Name] = f
		return f, nil
	}
	reg["ipaddr"] = func(s resources.Spec) (resources.Agent, error) {
		f := &fake{name: s.Name, log: r.log}
		r.agents[s.Name] = f
		r.vipRefresh = &refreshing{fake: f}
		return r.vipRefresh, nil
	}
	e, err := New(Deps{Config: cfg, Store: r.store, Lease: r.lease.Load, Agents: reg,
		Report: func(_ context.Context, c state.Command) error {
			r.mu.Lock()
			r.reports = append(r.reports, c)
			r.mu.Unlock()
			// Play the FSM's part for the commands the executor sends.
			r.store.set(func(d *state.Data) { applyLike(d, c) })
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// applyLike mirrors the FSM for the executor's own reports.
func applyLike(d *state.Data, c state.Command) {
	switch c := c.(type) {
	case *state.GroupReport:
		if g := d.Groups[c.Group]; g != nil && g.Holder == c.Node {
			g.State = c.State
			if c.State == state.GroupStopped && g.Node != c.Node {
				g.Holder = ""
			}
		}
	case *state.ResourceFailed:
		g := d.Groups[c.Group]
		if g.Resources == nil {
			g.Resources = map[string]*state.Resource{}
		}
		if g.Resources[c.Resource] == nil {
			g.Resources[c.Resource] = &state.Resource{FailCount: map[string]int{}}
		}
		g.Resources[c.Resource].FailCount[c.Node]++
	}
}

func (r *rig) assign(node string) {
	r.store.set(func(d *state.Data) {
		g := d.Groups["web"]
		if g == nil {
			g = &state.Group{Name: "web"}
			d.Groups["web"] = g
		}
		g.Node, g.Epoch = node, g.Epoch+1
		if node != "" {
			g.Holder, g.State = node, state.GroupStarting
		}
	})
}

func (r *rig) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; calls %v", what, r.log.get())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) groupState() string { return r.store.Read().Groups["web"].State }

func TestStartsInOrderStopsInReverse(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.assign("")
	r.wait(t, "released", func() bool { return r.store.Read().Groups["web"].Holder == "" })
	want := []string{"start vip", "start haproxy", "stop haproxy", "stop vip"}
	if got := r.log.get(); len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("calls = %v, want %v", got, want)
	}
}

func TestLeaseLossStopsAddressFirst(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.lease.Store(false)
	r.wait(t, "stopped", func() bool { return !r.agents["vip"].running.Load() && !r.agents["haproxy"].running.Load() })
	calls := r.log.get()
	if calls[2] != "stop vip" || calls[3] != "stop haproxy" {
		t.Fatalf("on lease loss the VIP must go first: %v", calls)
	}
	// Without the lease nothing starts, even though the state says so.
	time.Sleep(100 * time.Millisecond)
	if r.agents["vip"].running.Load() {
		t.Fatal("started without a lease")
	}
}

func TestMonitorFailureRestartsInPlaceThenGivesUp(t *testing.T) {
	r := newRig(t, 2)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.agents["haproxy"].failMon.Store(true)
	r.wait(t, "restarted", func() bool {
		n := 0
		for _, c := range r.log.get() {
			if c == "start haproxy" {
				n++
			}
		}
		return n == 2 && r.groupState() == state.GroupStarted
	})
	if calls := r.log.get(); calls[2] != "stop haproxy" {
		t.Fatalf("restart should stop only from the failed resource on: %v", calls)
	}
	if n := r.store.Read().Groups["web"].FailCount("n1"); n != 1 {
		t.Fatalf("fail count %d", n)
	}
}

func TestFailedStopBlocksTheGroup(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.agents["haproxy"].failOp.Store(true)
	r.assign("")
	r.wait(t, "blocked", func() bool { return r.groupState() == state.GroupBlocked })
	if r.store.Read().Groups["web"].Holder != "n1" {
		t.Fatal("a node whose stop failed must stay the holder (only a fence or cleanup releases it)")
	}
}

func TestMaintenanceKeepsHandsOff(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.store.set(func(d *state.Data) { d.Maintenance = true })
	r.agents["haproxy"].failMon.Store(true)
	r.agents["haproxy"].running.Store(false)
	time.Sleep(150 * time.Millisecond)
	if len(r.log.get()) != 2 {
		t.Fatalf("maintenance acted: %v", r.log.get())
	}
}

func TestRunningAddressIsReannounced(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.wait(t, "refreshes", func() bool { return r.vipRefresh.n.Load() >= 3 })
	r.assign("")
	r.wait(t, "stopped", func() bool { return !r.agents["vip"].running.Load() })
	n := r.vipRefresh.n.Load()
	time.Sleep(100 * time.Millisecond)
	if r.vipRefresh.n.Load() != n {
		t.Fatal("a stopped address kept being announced")
	}
}
