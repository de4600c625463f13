package executor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

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

// count is how many calls equal c.
func (l *log) count(c string) int {
	n := 0
	for _, x := range l.get() {
		if x == c {
			n++
		}
	}
	return n
}

type fake struct {
	name      string
	log       *log
	running   atomic.Bool
	failMon   atomic.Bool // monitor reports stopped (the process died)
	failOp    atomic.Bool // start and stop fail
	failStart atomic.Bool // start fails
	dead      atomic.Bool // starts, but every monitor reports stopped
	hang      atomic.Bool // stop blocks until its ctx ends
	announced atomic.Int32
	monitors  atomic.Int32
}

func (f *fake) Start(context.Context) error {
	f.log.add("start " + f.name)
	if f.failOp.Load() || f.failStart.Load() {
		return errors.New("boom")
	}
	f.running.Store(true)
	f.failMon.Store(false)
	return nil
}
func (f *fake) Stop(ctx context.Context) error {
	f.log.add("stop " + f.name)
	if f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.failOp.Load() {
		return errors.New("stuck")
	}
	f.running.Store(false)
	return nil
}
func (f *fake) Monitor(context.Context) (resources.State, error) {
	f.monitors.Add(1)
	if f.running.Load() && !f.failMon.Load() && !f.dead.Load() {
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

// Announce is ipaddr's on-demand announcement.
func (r *refreshing) Announce(context.Context) error { r.announced.Add(1); return nil }

// rig runs one executor against the real replicated state machine: its
// reports and the test's decisions go through state.FSM.Apply, as raft
// would apply them.
type rig struct {
	vipRefresh *refreshing
	store      *state.FSM
	lease      atomic.Bool
	log        *log
	agents     map[string]*fake
	exec       *Executor
	mu         sync.Mutex
	reports    []state.Command
	index      uint64
	cancel     context.CancelFunc
	done       chan struct{}
	runErr     error
}

// apply commits c to the FSM and returns its verdict.
func (r *rig) apply(c state.Command) error {
	b, err := state.Encode(c)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.index++
	idx := r.index
	r.mu.Unlock()
	if e, ok := r.store.Apply(&raft.Log{Type: raft.LogCommand, Index: idx, Data: b}).(error); ok {
		return e
	}
	return nil
}

func (r *rig) mustApply(t *testing.T, c state.Command) {
	t.Helper()
	if err := r.apply(c); err != nil {
		t.Fatalf("apply %T: %v", c, err)
	}
}

// newRig builds the executor of node n1 and runs it; before runs between
// building the agents and starting the executor.
func newRig(t *testing.T, threshold int, before ...func(*rig)) *rig {
	return newRigConfig(t, threshold, false, before...)
}

func newRigConfig(t *testing.T, threshold int, witness bool, before ...func(*rig)) *rig {
	r := &rig{store: state.NewFSM(nil), log: &log{}, agents: map[string]*fake{}}
	r.lease.Store(true)
	res := func(typ, name string) configs.Resource {
		return configs.Resource{Type: typ, Name: name, StartTimeout: time.Second, StopTimeout: time.Second,
			MonitorTimeout: time.Second, MonitorInterval: 20 * time.Millisecond, OnFail: "restart"}
	}
	cfg := &configs.Config{NodeName: "n1", Nodes: []configs.Node{{Name: "n1", Witness: witness}, {Name: "n2"}},
		Groups: []configs.Group{{Name: "web", MigrationThreshold: threshold,
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
			return r.apply(c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.exec = e
	for _, f := range before {
		f(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.runErr = e.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop shuts the executor down as the agent does and waits for Run to return.
func (r *rig) stop() {
	r.cancel()
	<-r.done
}

func (r *rig) assign(node string) {
	if err := r.apply(&state.Assign{Group: "web", Node: node, Time: time.Now()}); err != nil {
		panic(err)
	}
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
	r.mustApply(t, &state.SetMaintenance{On: true, Time: time.Now()})
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
