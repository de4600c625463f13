package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/resources"
)

// A run of consecutive addresses (ipaddr resources) in a group starts, and
// stops, together, the way keepalived brings up a virtual_ipaddress block:
// addresses do not depend on each other, and one at a time a group of 256
// took a quarter of a second. Whatever comes after the run starts only once
// every address of it is up; each address is still held by the crash guard
// before it is added (startRes).
const addrWorkers = 8

// addressRun returns the end (exclusive) of the run of consecutive ipaddr
// resources of list starting at i; i+1 when list[i] is not an address.
func addressRun(list []*res, i int) int {
	j := i + 1
	if list[i].cfg.Type != "ipaddr" {
		return j
	}
	for j < len(list) && list[j].cfg.Type == "ipaddr" {
		j++
	}
	return j
}

// each runs op on every resource of list, at most addrWorkers at a time,
// and returns the errors by position.
func each(list []*res, op func(x *res) error) []error {
	errs := make([]error, len(list))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(addrWorkers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = op(list[i])
			}
		}()
	}
	for i := range list {
		work <- i
	}
	close(work)
	wg.Wait()
	return errs
}

// guardBatch is an optional ability of the Guard (cluster/guard Client):
// many holds or releases in one exchange instead of a round trip each.
type guardBatch interface {
	HoldMany(ctx context.Context, holds [][3]string) []error // key, address, interface
	ReleaseMany(ctx context.Context, keys []string)
}

// startAddresses starts the addresses of run that are not running yet, in
// parallel, each only while the lease holds and only once the crash guard
// holds it, and returns each one's error (by position in run). Those that
// started are marked running.
func (r *runner) startAddresses(ctx context.Context, run []*res) []error {
	start := r.startRes
	held := map[*res]error{}
	if gb, ok := r.d.Guard.(guardBatch); ok && r.d.Guard != nil {
		var holds [][3]string
		var of []*res
		for _, x := range run {
			if key, addr, ifc, ok := r.guarded(x); ok && r.get(x) != resources.Running {
				holds = append(holds, [3]string{key, addr, ifc})
				of = append(of, x)
			}
		}
		if len(holds) > 0 && r.d.Lease() {
			t0 := time.Now()
			errs := gb.HoldMany(ctx, holds)
			r.log.Debug("crash guard holds the addresses", "count", len(holds), "took", time.Since(t0).Round(10*time.Microsecond))
			for i, err := range errs {
				if err != nil {
					err = heldErr(holds[i][1], err)
				}
				held[of[i]] = err
			}
		}
		start = func(ctx context.Context, x *res) error {
			err, ok := held[x]
			switch {
			case !ok:
				return r.startRes(ctx, x) // not an address the guard holds
			case err != nil:
				return err
			}
			return x.agent.Start(ctx)
		}
	}
	if errs, ok := r.startMany(ctx, run, held); ok {
		return errs
	}
	return each(run, func(x *res) error {
		if r.get(x) == resources.Running {
			return nil
		}
		if !r.d.Lease() {
			return errNoLease
		}
		cctx, cancel := context.WithTimeout(ctx, x.cfg.StartTimeout)
		defer cancel()
		if err := start(cctx, x); err != nil {
			return err
		}
		r.noteStarted(x)
		return nil
	})
}

func (r *runner) noteStarted(x *res) {
	r.set(x, resources.Running)
	r.clearFail(x, "start")
	x.nextMon = r.d.Now().Add(x.cfg.MonitorInterval)
	if rf, ok := ability[refresher](x.agent); ok {
		x.nextRefresh = r.d.Now().Add(rf.RefreshInterval()) // Start just announced
	}
}

// manyStarter is an agent type that starts many agents of its type at once
// (ipaddr: one netlink handle and interface lookup for all).
type manyStarter interface {
	StartMany(ctx context.Context, agents []resources.Agent) []error
}

// startMany starts the resources of run that are not running with one
// StartMany, only those the crash guard holds when it is batched (held:
// the outcome of each hold; without an entry, the guard is not involved
// and must not be). ok is false when run's agents cannot do that.
func (r *runner) startMany(ctx context.Context, run []*res, held map[*res]error) (errs []error, ok bool) {
	if len(run) < 2 {
		return nil, false
	}
	ms, can := ability[manyStarter](run[0].agent)
	if !can {
		return nil, false
	}
	errs = make([]error, len(run))
	var todo []int
	var agents []resources.Agent
	var timeout time.Duration
	for n, x := range run {
		if r.get(x) == resources.Running {
			continue
		}
		herr, isHeld := held[x]
		if _, _, _, guarded := r.guarded(x); guarded && !isHeld {
			return nil, false // no batched hold: each start holds its own
		}
		if herr != nil {
			errs[n] = herr
			continue
		}
		todo = append(todo, n)
		agents = append(agents, unwrap(x.agent))
		timeout = max(timeout, x.cfg.StartTimeout)
	}
	if len(todo) == 0 {
		return errs, true
	}
	if !r.d.Lease() {
		for _, n := range todo {
			errs[n] = errNoLease
		}
		return errs, true
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	started := ms.StartMany(cctx, agents)
	r.log.Debug("addresses added and announced", "count", len(agents), "took", time.Since(t0).Round(10*time.Microsecond))
	for k, err := range started {
		n := todo[k]
		if errs[n] = err; err == nil {
			r.noteStarted(run[n])
		}
	}
	return errs, true
}

// releaseAddresses has the crash guard let go of the addresses of run that
// are not stopped, in one exchange, before they are removed; it reports
// whether it did (else each stop releases its own).
func (r *runner) releaseAddresses(ctx context.Context, run []*res) bool {
	gb, ok := r.d.Guard.(guardBatch)
	if !ok || r.d.Guard == nil || len(run) < 2 {
		return false
	}
	var keys []string
	for _, x := range run {
		if key, _, _, ok := r.guarded(x); ok && r.get(x) != resources.Stopped {
			keys = append(keys, key)
		}
	}
	gb.ReleaseMany(ctx, keys)
	return true
}

// errNoLease: the lease ran out before the resource was started.
var errNoLease = errors.New("the lease ran out")

// startRun starts the addresses r.res[i:j] together (see addrWorkers) and
// reports whether the group's start may go on. A failure is handled like a
// failed start of that address alone.
func (r *runner) startRun(ctx context.Context, g *state.Group, i, j int) bool {
	run := r.res[i:j]
	for _, x := range run {
		if r.get(x) == resources.Running {
			r.announceOne(ctx, x, "group starting with the address already up")
		}
	}
	if !r.d.Lease() {
		return false
	}
	errs := r.startAddresses(ctx, run)
	ok, first := true, -1
	for n, err := range errs {
		switch {
		case err == nil:
			continue
		case errors.Is(err, errNoLease):
			ok = false // as a one-by-one start would: stop here, no failure
			continue
		}
		r.log.Error("start failed", "resource", run[n].cfg.Name, "error", err)
		// Failed, not stopped: the stop that follows cleans up whatever a
		// half-done start left.
		r.set(run[n], resources.Failed)
		r.noteFail(run[n], "start", err.Error())
		if first < 0 {
			first = n
		}
	}
	if first >= 0 {
		r.fail(ctx, g, i+first, fmt.Sprintf("start: %v", errs[first]))
		return false
	}
	return ok
}

// noteStop records the outcome of stopping x and returns its error, named.
func (r *runner) noteStop(x *res, err error) error {
	if err != nil {
		r.set(x, resources.Failed)
		r.noteFail(x, "stop", err.Error())
		return fmt.Errorf("%s: %w", x.cfg.Name, err)
	}
	r.set(x, resources.Stopped)
	r.clearFail(x, "stop")
	return nil
}

// manyStopper is an agent type that stops many agents of its type at once
// (ipaddr: one address dump per interface instead of one per address).
type manyStopper interface {
	StopMany(ctx context.Context, agents []resources.Agent) []error
}

// stopMany stops the resources of run that are not stopped with one
// StopMany, releasing them from the crash guard first unless released
// says that was done; batched is false when run's agents cannot do that.
func (r *runner) stopMany(ctx context.Context, run []*res, released bool) (errs []error, batched bool) {
	if len(run) < 2 {
		return nil, false
	}
	ms, ok := ability[manyStopper](run[0].agent)
	if !ok {
		return nil, false
	}
	var todo []*res
	var agents []resources.Agent
	var timeout time.Duration
	for _, x := range run {
		if r.get(x) == resources.Stopped {
			continue
		}
		todo = append(todo, x)
		agents = append(agents, unwrap(x.agent))
		timeout = max(timeout, x.cfg.StopTimeout)
		if key, _, _, ok := r.guarded(x); ok && !released {
			r.d.Guard.Release(ctx, key)
		}
	}
	errs = make([]error, len(run))
	if len(todo) == 0 {
		return errs, true
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := ms.StopMany(cctx, agents)
	for k, x := range todo {
		for n, y := range run {
			if y == x {
				errs[n] = r.noteStop(x, res[k])
			}
		}
	}
	return errs, true
}

// unwrap returns the agent under any wrappers (telemetry's timing).
func unwrap(a resources.Agent) resources.Agent {
	for {
		u, ok := a.(interface{ Unwrap() resources.Agent })
		if !ok {
			return a
		}
		a = u.Unwrap()
	}
}

// manyMonitor is an agent type that monitors many agents of its type at
// once (ipaddr: one address dump per interface instead of one per address).
type manyMonitor interface {
	MonitorMany(ctx context.Context, agents []resources.Agent) ([]resources.State, []error)
}

// monitored is one monitor's outcome.
type monitored struct {
	st  resources.State
	err error
}

// monitorRuns monitors, with one MonitorMany per run of addresses, the
// addresses whose monitor is due at now, when two or more of a run are;
// monitorDue takes their outcomes from it instead of asking each.
func (r *runner) monitorRuns(ctx context.Context, now time.Time) map[*res]monitored {
	out := map[*res]monitored{}
	for i := 0; i < len(r.res); {
		j := addressRun(r.res, i)
		var due []*res
		var agents []resources.Agent
		var timeout time.Duration
		for _, x := range r.res[i:j] {
			if !now.Before(x.nextMon) {
				due = append(due, x)
				agents = append(agents, unwrap(x.agent))
				timeout = max(timeout, x.cfg.MonitorTimeout)
			}
		}
		i = j
		mm, ok := ability[manyMonitor](r.res[j-1].agent)
		if len(due) < 2 || !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		states, errs := mm.MonitorMany(cctx, agents)
		cancel()
		for k, x := range due {
			out[x] = monitored{states[k], errs[k]}
		}
	}
	return out
}
