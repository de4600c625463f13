package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// poll bounds how long a lost lease or a missed notification goes unnoticed
// while the runner has work in progress (see nextWake for a settled one).
const poll = 25 * time.Millisecond

// banCount is Pacemaker's INFINITY fail count: the node is out for the group.
const banCount = 1000000

type res struct {
	cfg         configs.Resource
	agent       resources.Agent
	state       resources.State // guarded by runner.mu
	known       bool
	nextMon     time.Time
	nextRefresh time.Time
	// The last failed operation on this resource, for status (under runner.mu).
	failOp  string // start | stop | monitor ("" = none since it last worked)
	failErr string
	failN   int
	// lapsesAtStart: the crash guard's lapse count when this address was
	// started (removedByGuard).
	lapsesAtStart uint64
}

// refresher is an agent that re-announces itself while running (ipaddr with
// garp_refresh: periodic gratuitous ARP / unsolicited NA).
type refresher interface {
	Refresh(ctx context.Context) error
	RefreshInterval() time.Duration
}

type runner struct {
	d   Deps
	cfg configs.Group
	log hclog.Logger

	mu  sync.Mutex
	res []*res

	reported string // last state reported for reportedEpoch
	repEpoch uint64
	restarts uint64 // last restart request seen (state.Group.Restarts)
	started  bool   // step has run once
	// confirmed: the state was confirmed current since the runner started,
	// or no leader did so within a lease (current.go); since: when it started.
	confirmed bool
	waited    bool // a confirmation failed before the first one succeeded
	since     time.Time

	stopRetry  retry             // failed stops (under mu: status reads it)
	startRetry retry             // failed starts and monitors: restart back-off (under mu)
	blocked    bool              // the group is blocked on this node (under mu)
	failCount  int               // this node's fail count at the last step (a drop is a cleanup)
	seen       map[string]string // node -> replicated status at the last step
	// guardKept: the crash guard leaves this group's addresses alone (maintenance)
	guardKept bool
	handsOff  bool   // the last step found the group in maintenance
	rc        reconf // a reload's new definition (reconfig.go)
	wakeOnce  sync.Once
	wakeup    chan struct{} // kick: wake a settled runner (wake.go)
	// guardLapsed: the crash guard removed the addresses (GuardLapsed);
	// the next step monitors them at once.
	guardLapsed atomic.Bool
}

// ipLike resources move traffic: on lease loss they go first (DESIGN.md
// invariant 3), so the VIP is released before anything slow runs.
func ipLike(t string) bool {
	switch t {
	case "ipaddr", "awseip", "awsip", "awsroute":
		return true
	}
	return false
}

func (r *runner) run(ctx context.Context, hurry <-chan struct{}) error {
	r.since = r.d.Now()
	r.probe(ctx)
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		// Taken before the step reads the state: a change committed while
		// the step runs then wakes the runner at once (a settled runner
		// may otherwise sleep up to idleWake).
		watch := r.d.Store.Watch()
		if r.reconfigure(ctx) {
			return nil // removed by a reload, stopped and dropped
		}
		if r.guardLapsed.Swap(false) {
			r.monitorGuardedNow()
		}
		r.step(ctx)
		t.Reset(r.nextWake(r.d.Now()))
		select {
		case <-ctx.Done():
			return r.shutdown(hurry)
		case <-watch:
		case <-r.wakeCh():
		case <-t.C:
		}
	}
}

// probe learns what is already running (after a crash or restart), like
// Pacemaker's initial probes, so a stale VIP is found and stopped.
func (r *runner) probe(ctx context.Context) {
	for _, x := range r.res {
		st, err := r.monitor(ctx, x)
		if err != nil {
			r.log.Debug("probe", "resource", x.cfg.Name, "error", err)
		}
		r.set(x, st)
	}
}

func (r *runner) step(ctx context.Context) {
	if !r.current(ctx) {
		return
	}
	me := r.d.Config.NodeName
	data := r.d.Store.Read()
	g := data.Groups[r.cfg.Name]
	if data.HandsOff(r.cfg.Name, r.cfg.Maintenance) {
		r.guardOff(ctx)
		r.handsOff = true
		return // hands off: no start, stop or monitor; status keeps the last known states
	}
	if r.handsOff {
		// Out of maintenance: what runs may have been changed by hand
		// meanwhile, so look again before acting (as Pacemaker re-probes).
		r.handsOff = false
		r.probe(ctx)
	}
	r.guardOn(ctx)
	lease := r.d.Lease()
	want := lease && g != nil && g.Node == me && g.Holder == me
	r.noteCleanup(g)
	rejoined := r.noteRejoins(data)
	if g != nil && g.Restarts != r.restarts {
		if r.started && want && r.anyRunning() {
			r.log.Info("restart requested")
			r.stopAll(ctx, false)
		}
		r.restarts = g.Restarts
	}
	r.started = true
	now := r.d.Now()
	switch {
	case lease && g != nil && g.Holder == me && g.State == state.GroupBlocked:
		// A failed stop (or on_fail = fence) blocks the group: hands off, no
		// retries, until the leader fences this node or `vigil resource
		// cleanup` unblocks it. Only a lost lease makes us try again.
		return
	case want && !r.allRunning():
		if !r.due(&r.startRetry, now) {
			return
		}
		t0 := time.Now()
		if g = r.fresh(ctx); g == nil {
			return
		}
		r.log.Debug("starting: the state is current", "sync_took", time.Since(t0).Round(10*time.Microsecond))
		r.start(ctx, g)
	case want:
		if rejoined != "" {
			r.announce(ctx, "node "+rejoined+" rejoined")
		}
		r.monitorDue(ctx, g)
	case r.anyRunning():
		if !r.due(&r.stopRetry, now) {
			return
		}
		if !lease {
			r.log.Warn("lease lost: stopping resources, addresses first")
		} else {
			r.log.Debug("stopping: the group is not assigned here")
		}
		ok := r.stopAll(ctx, !lease)
		if lease && g != nil && g.Holder == me {
			st, why := state.GroupStopped, ""
			if !ok {
				r.mu.Lock()
				why = "stop failed: " + r.stopRetry.lastErr + "; `vigil resource cleanup " + r.cfg.Name + "` retries it"
				r.mu.Unlock()
				st = state.GroupBlocked
			}
			r.report(ctx, g, st, why)
		}
	case lease && g != nil && g.Holder == me && g.Node != me:
		r.report(ctx, g, state.GroupStopped, "")
	}
}

// fresh re-reads the group after catching up with the leader, and returns it
// only if it is still ours to run.
func (r *runner) fresh(ctx context.Context) *state.Group {
	if r.d.Sync != nil {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		err := r.d.Sync(sctx)
		cancel()
		if err != nil {
			r.log.Debug("not starting: cannot confirm the state is current", "error", err)
			return nil
		}
	}
	me := r.d.Config.NodeName
	g := r.d.Store.Read().Groups[r.cfg.Name]
	if g == nil || g.Node != me || g.Holder != me || !r.d.Lease() {
		return nil
	}
	return g
}

// start brings up the group's resources in order.
func (r *runner) start(ctx context.Context, g *state.Group) {
	for i := 0; i < len(r.res); i++ {
		if j := addressRun(r.res, i); j > i+1 {
			if !r.startRun(ctx, g, i, j) {
				return
			}
			i = j - 1
			continue
		}
		x := r.res[i]
		if r.get(x) == resources.Running {
			// Already up (found by the probe after a restart): its start
			// announcement is long gone, so neighbours may hold a stale MAC.
			r.announceOne(ctx, x, "group starting with the address already up")
			continue
		}
		if !r.d.Lease() {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, x.cfg.StartTimeout)
		err := r.startRes(cctx, x)
		cancel()
		if errors.Is(err, errNoLease) {
			r.log.Warn("not started: the crash guard saw the lease lapse; waiting for it", "resource", x.cfg.Name)
			return
		}
		if err != nil {
			r.log.Error("start failed", "resource", x.cfg.Name, "error", err)
			r.set(x, resources.Failed)
			r.noteFail(x, "start", err.Error())
			r.fail(ctx, g, i, fmt.Sprintf("start: %v", err))
			return
		}
		r.set(x, resources.Running)
		r.clearFail(x, "start")
		x.nextMon = r.d.Now().Add(x.cfg.MonitorInterval)
		if rf, ok := ability[refresher](x.agent); ok {
			x.nextRefresh = r.d.Now().Add(rf.RefreshInterval()) // Start just announced
		}
	}
	r.log.Info("group started")
	r.report(ctx, g, state.GroupStarted, "")
}

// monitorGuardedNow makes the addresses the guard holds due for a monitor.
func (r *runner) monitorGuardedNow() {
	now := r.d.Now()
	for _, x := range r.res {
		if _, _, _, ok := r.guarded(x); ok && x.nextMon.After(now) {
			x.nextMon = now
		}
	}
}

// monitorDue runs the monitors whose interval elapsed.
func (r *runner) monitorDue(ctx context.Context, g *state.Group) {
	now := r.d.Now()
	batched := r.monitorRuns(ctx, now)
	for i, x := range r.res {
		r.refresh(ctx, x, now)
		if now.Before(x.nextMon) {
			continue
		}
		x.nextMon = now.Add(x.cfg.MonitorInterval)
		m, ok := batched[x]
		if !ok {
			m.st, m.err = r.monitor(ctx, x)
		}
		st, err := m.st, m.err
		if st == resources.Running {
			r.set(x, st)
			r.clearFail(x, "monitor")
			continue
		}
		if st == resources.Stopped && r.removedByGuard(x) {
			// The lease lapsed for a moment (the guard acted on it before
			// this loop saw it): start it again, counting no failure.
			r.log.Warn("the crash guard removed the address when the lease lapsed; starting it again", "resource", x.cfg.Name)
			r.set(x, resources.Stopped)
			r.kick() // the next step starts it, without waiting for a poll
			return
		}
		why := "monitor: " + st.String()
		if err != nil {
			why = fmt.Sprintf("monitor: %v", err)
		}
		r.log.Warn("resource failed", "resource", x.cfg.Name, "reason", why)
		// Failed, not stopped: a restart always runs stop first (cleans up
		// pid files and half-dead processes, as Pacemaker does).
		r.set(x, resources.Failed)
		r.noteFail(x, "monitor", why)
		r.fail(ctx, g, i, why)
		return
	}
	if g.State != state.GroupStarted || g.Unmanaged {
		r.report(ctx, g, state.GroupStarted, "")
	}
}

// refresh re-announces a running resource when its refresh period is due.
func (r *runner) refresh(ctx context.Context, x *res, now time.Time) {
	rf, ok := ability[refresher](x.agent)
	if !ok || rf.RefreshInterval() <= 0 || now.Before(x.nextRefresh) {
		return
	}
	x.nextRefresh = now.Add(rf.RefreshInterval())
	cctx, cancel := context.WithTimeout(ctx, x.cfg.MonitorTimeout)
	defer cancel()
	if err := rf.Refresh(cctx); err != nil {
		r.log.Warn("refresh failed", "resource", x.cfg.Name, "error", err)
	}
}

func (r *runner) monitor(ctx context.Context, x *res) (resources.State, error) {
	cctx, cancel := context.WithTimeout(ctx, x.cfg.MonitorTimeout)
	defer cancel()
	return x.agent.Monitor(cctx)
}

// fail handles a failed resource according to its on_fail policy.
func (r *runner) fail(ctx context.Context, g *state.Group, i int, why string) {
	x := r.res[i]
	if x.cfg.OnFail == "ignore" {
		return
	}
	me := r.d.Config.NodeName
	cmd := &state.ResourceFailed{Group: r.cfg.Name, Resource: x.cfg.Name, Node: me, Reason: why, Time: r.d.Now()}
	if x.cfg.OnFail == "move" {
		cmd.Count = banCount
	}
	if err := r.d.Report(ctx, cmd); err != nil {
		r.log.Warn("cannot record failure", "error", err)
	}
	if x.cfg.OnFail == "fence" {
		// The leader fences this node; until then keep hands off.
		r.report(ctx, g, state.GroupBlocked, "on_fail = fence after "+why)
		return
	}
	if x.cfg.OnFail == "standby" {
		_ = r.d.Report(ctx, &state.SetStandby{Node: me, Standby: true, Time: r.d.Now()})
	}
	// Stop from the failed resource to the end (reverse), then let the next
	// step restart in place or the coordinator move the group.
	ok := r.stopFrom(ctx, i)
	r.mu.Lock()
	r.startRetry.fail(r.d.Now(), why)
	r.mu.Unlock()
	if !ok {
		r.report(ctx, g, state.GroupBlocked, "stop failed after "+why)
		return
	}
	r.report(ctx, g, state.GroupFailed, why)
}

// stopAll stops every resource: in reverse order, or addresses first when
// the lease is lost.
func (r *runner) stopAll(ctx context.Context, ipFirst bool) bool {
	order := make([]*res, 0, len(r.res))
	if ipFirst {
		for _, x := range r.res {
			if ipLike(x.cfg.Type) {
				order = append(order, x)
			}
		}
	}
	for i := len(r.res) - 1; i >= 0; i-- {
		if !ipFirst || !ipLike(r.res[i].cfg.Type) {
			order = append(order, r.res[i])
		}
	}
	return r.stopList(ctx, order)
}

func (r *runner) stopFrom(ctx context.Context, i int) bool {
	var order []*res
	for j := len(r.res) - 1; j >= i; j-- {
		order = append(order, r.res[j])
	}
	return r.stopList(ctx, order)
}

// stopList stops list in order. A failure is retried with back-off by the
// next steps (stopRetry), never at once.
func (r *runner) stopList(ctx context.Context, list []*res) bool {
	released := false // the guard let go of the run's addresses already
	stopOne := func(x *res) error {
		if r.get(x) == resources.Stopped {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, x.cfg.StopTimeout)
		var err error
		if released {
			err = x.agent.Stop(cctx)
		} else {
			err = r.stopRes(cctx, x)
		}
		cancel()
		return r.noteStop(x, err)
	}
	ok := true
	var last string
	for i := 0; i < len(list); {
		// A run of addresses stops together (parallel.go).
		j := addressRun(list, i)
		t0 := time.Now()
		released = j > i+1 && r.releaseAddresses(ctx, list[i:j])
		t1 := time.Now()
		errs, batched := r.stopMany(ctx, list[i:j], released)
		if batched {
			r.log.Debug("addresses removed", "count", j-i, "release_took", t1.Sub(t0).Round(10*time.Microsecond),
				"remove_took", time.Since(t1).Round(10*time.Microsecond))
		} else {
			errs = each(list[i:j], stopOne)
		}
		for _, err := range errs {
			if err != nil {
				last, ok = err.Error(), false
			}
		}
		i = j
	}
	r.mu.Lock()
	if ok {
		r.stopRetry.reset()
	} else {
		r.stopRetry.fail(r.d.Now(), last)
	}
	n, next := r.stopRetry.attempts, r.stopRetry.next
	r.mu.Unlock()
	if ok {
		r.log.Info("resources stopped")
	} else {
		r.log.Error("stop failed", "error", last, "attempts", n, "next_attempt_in", next.Sub(r.d.Now()).Round(time.Millisecond))
	}
	return ok
}

// report commits the group's state once per (epoch, state).
func (r *runner) report(ctx context.Context, g *state.Group, st, why string) {
	// An unmanaged group (state.Group.Unmanaged) waits for this report: the
	// leader releases it by lease only once its holder manages it again.
	if g == nil || (r.repEpoch == g.Epoch && r.reported == st && g.State == st && !g.Unmanaged) {
		return
	}
	err := r.d.Report(ctx, &state.GroupReport{Group: r.cfg.Name, Node: r.d.Config.NodeName,
		Epoch: g.Epoch, State: st, Reason: why, Time: r.d.Now()})
	if err != nil {
		r.log.Debug("report failed (will retry)", "state", st, "error", err)
		return
	}
	r.repEpoch, r.reported = g.Epoch, st
}

func (r *runner) maxStop() time.Duration {
	var d time.Duration
	for _, x := range r.res {
		d += x.cfg.StopTimeout
	}
	return d + time.Second
}

func (r *runner) set(x *res, st resources.State) {
	r.mu.Lock()
	x.state, x.known = st, true
	r.mu.Unlock()
}

func (r *runner) get(x *res) resources.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return x.state
}

func (r *runner) allRunning() bool {
	for _, x := range r.res {
		if r.get(x) != resources.Running {
			return false
		}
	}
	return true
}

func (r *runner) anyRunning() bool {
	for _, x := range r.res {
		if r.get(x) != resources.Stopped {
			return true
		}
	}
	return false
}

// stopped: every resource is known to be stopped here.
func (r *runner) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.res {
		if !x.known || x.state != resources.Stopped {
			return false
		}
	}
	return true
}

func (r *runner) local() Local {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := Local{Group: r.cfg.Name, Running: true, Resources: map[string]string{}}
	for _, x := range r.res {
		s := "unknown"
		if x.known {
			s = x.state.String()
		}
		l.Resources[x.cfg.Name] = s
		if x.state != resources.Running {
			l.Running = false
		}
	}
	l.Failures = r.failures()
	return l
}
