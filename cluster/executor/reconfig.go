package executor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/vigil-ha/vigil/cluster/reload"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// fleet is the set of running runners, which a reload can grow (vigil
// reload adds a group) while Run is going on.
type fleet struct {
	mu     sync.Mutex
	ctx    context.Context // Run's; nil before Run
	closed bool            // Run is on its way out: no new runners
	wg     sync.WaitGroup
	errs   []error
}

// reconf is a runner's part in a reload: the newest definition handed to
// it, and whether its group was removed from the configuration.
type reconf struct {
	upd     atomic.Pointer[update]
	retired atomic.Bool
	def     configs.Group // latest definition handed over (under fleet.mu)
	exited  bool          // its goroutine returned (under fleet.mu)
}

// update is a reloaded group definition with its agents built. The runner
// installs it between two steps, on its own goroutine.
type update struct {
	cfg configs.Group
	res []*res
}

// Reconfigure applies a reloaded configuration's groups (vigil reload). It
// builds every agent of every new or changed group first, so a bad
// parameter changes nothing. Then: a new group gets a runner (it starts
// where the leader places it); a removed group's runner keeps it until the
// leader has stopped and dropped it, then ends; a changed group's runner
// installs its new definition between two steps, restarting in place the
// resources whose definition changed (reload.FirstChanged). Unchanged
// groups are not touched.
func (e *Executor) Reconfigure(cfg *configs.Config) error {
	if e.d.Config.Local().Witness {
		return nil
	}
	e.fl.mu.Lock()
	defer e.fl.mu.Unlock()
	byName := map[string]*runner{}
	for _, r := range e.runners {
		byName[r.rc.def.Name] = r
	}
	type change struct {
		r *runner // nil: a new group
		u *update
	}
	var changes []change
	var errs []error
	for _, gc := range cfg.Groups {
		r := byName[gc.Name]
		if r != nil && !r.rc.retired.Load() && reflect.DeepEqual(r.rc.def, gc) {
			continue
		}
		res, err := e.build(gc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		changes = append(changes, change{r, &update{cfg: gc, res: res}})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, gc := range cfg.Groups {
		keep[gc.Name] = true
	}
	for name, r := range byName {
		if !keep[name] && !r.rc.retired.Swap(true) {
			r.log.Info("group removed from the configuration: stopping it once the leader assigns it nowhere")
			r.kick()
		}
	}
	for _, c := range changes {
		if c.r == nil {
			r := e.newRunner(c.u.cfg, c.u.res)
			e.runners = append(e.runners, r)
			e.spawnLocked(r)
			r.log.Info("group added by a configuration reload")
			continue
		}
		c.r.rc.def = c.u.cfg
		c.r.rc.upd.Store(c.u)
		c.r.rc.retired.Store(false)
		c.r.kick() // a settled runner sleeps (wake.go)
	}
	return nil
}

// build makes the agents of a group's resources.
func (e *Executor) build(gc configs.Group) ([]*res, error) {
	var out []*res
	for _, rc := range gc.Resources {
		a, err := e.d.Agents.New(rc.Type, resources.Spec{
			Group: gc.Name, Name: rc.Name, Params: rc.Params, Node: e.d.Config.NodeName,
			RunDir: e.d.RunDir, Logger: e.d.Logger.Named(gc.Name + "." + rc.Name),
		})
		if err != nil {
			return nil, fmt.Errorf("group %q resource %q (%s): %w", gc.Name, rc.Name, rc.Type, err)
		}
		out = append(out, &res{cfg: rc, agent: a})
	}
	return out, nil
}

func (e *Executor) newRunner(gc configs.Group, rs []*res) *runner {
	r := &runner{d: e.d, cfg: gc, log: e.d.Logger.With("group", gc.Name), res: rs,
		stopRetry: newRetry(stopRetryBase, stopRetryMax), startRetry: newRetry(startRetryBase, startRetryMax)}
	r.rc.def = gc
	return r
}

// start runs every runner under ctx; later ones (Reconfigure) join them.
func (e *Executor) start(ctx context.Context) {
	e.fl.mu.Lock()
	defer e.fl.mu.Unlock()
	e.fl.ctx = ctx
	for _, r := range e.runners {
		e.spawnLocked(r)
	}
}

// spawnLocked starts r's goroutine if Run is going on; e.fl.mu is held.
func (e *Executor) spawnLocked(r *runner) {
	if e.fl.ctx == nil || e.fl.closed {
		return
	}
	ctx := e.fl.ctx
	e.fl.wg.Add(1)
	go func() {
		defer e.fl.wg.Done()
		err := r.run(ctx, e.hurry)
		e.fl.mu.Lock()
		defer e.fl.mu.Unlock()
		if err != nil {
			e.fl.errs = append(e.fl.errs, err)
		}
		if ctx.Err() == nil { // retired and dropped: forget it
			r.rc.exited = true
			for i, x := range e.runners {
				if x == r {
					e.runners = append(e.runners[:i:i], e.runners[i+1:]...)
					break
				}
			}
		}
	}()
}

// wait stops new runners and waits for the running ones to end.
func (e *Executor) wait() error {
	e.fl.mu.Lock()
	e.fl.closed = true
	e.fl.mu.Unlock()
	e.fl.wg.Wait()
	e.fl.mu.Lock()
	defer e.fl.mu.Unlock()
	return errors.Join(e.fl.errs...)
}

// list is the current runners.
func (e *Executor) list() []*runner {
	e.fl.mu.Lock()
	defer e.fl.mu.Unlock()
	return append([]*runner(nil), e.runners...)
}

// reconfigure installs a pending definition and reports whether a retired
// runner is done: its group is gone from the state and nothing runs here.
func (r *runner) reconfigure(ctx context.Context) (done bool) {
	if u := r.rc.upd.Load(); u != nil && r.install(ctx, u) {
		r.rc.upd.CompareAndSwap(u, nil)
	}
	if !r.rc.retired.Load() {
		return false
	}
	return r.d.Store.Read().Groups[r.cfg.Name] == nil && !r.anyRunning()
}

// install switches the runner to a new definition of its group. The
// resources from the first changed one on are stopped first (in reverse
// order) where they run; the next step starts them with the new definition
// (the group is still assigned here). It returns false when a stop failed:
// the old definition stays, the group is reported blocked, and the update
// is tried again after the stop back-off.
func (r *runner) install(ctx context.Context, u *update) bool {
	first := reload.FirstChanged(r.cfgs(), u.cfg.Resources)
	if first < len(u.res) || first < len(r.res) {
		// Resources change: in maintenance nothing is stopped, started
		// or probed, so the new definition waits until it ends (a reload
		// that turns the group's maintenance on takes effect at once).
		if r.d.Store.Read().HandsOff(r.cfg.Name, r.cfg.Maintenance || u.cfg.Maintenance) {
			if u.cfg.Maintenance && !r.cfg.Maintenance {
				r.mu.Lock()
				r.cfg.Maintenance = true
				r.mu.Unlock()
			}
			return false
		}
	}
	if first < len(r.res) && r.anyRunningFrom(first) {
		if !r.due(&r.stopRetry, r.d.Now()) {
			return false
		}
		r.log.Info("resource definition changed by a reload: restarting it in place",
			"resource", r.res[first].cfg.Name)
		if !r.stopFrom(ctx, first) {
			me := r.d.Config.NodeName
			if g := r.d.Store.Read().Groups[r.cfg.Name]; g != nil && g.Holder == me && r.d.Lease() {
				r.mu.Lock()
				why := "stop failed while restarting for a configuration change: " + r.stopRetry.lastErr
				r.mu.Unlock()
				r.report(ctx, g, state.GroupBlocked, why)
			}
			return false
		}
	}
	now := r.d.Now()
	list := make([]*res, len(u.res))
	for i, x := range u.res {
		if i < first {
			old := r.res[i]
			r.mu.Lock()
			old.cfg = x.cfg // operation settings: no restart
			r.mu.Unlock()
			if next := now.Add(x.cfg.MonitorInterval); next.Before(old.nextMon) {
				old.nextMon = next
			}
			list[i] = old
			continue
		}
		// New agents: learn their state as the start-up probe does.
		st, err := r.monitor(ctx, x)
		if err != nil {
			r.log.Debug("probe", "resource", x.cfg.Name, "error", err)
		}
		x.state, x.known = st, true
		list[i] = x
	}
	r.mu.Lock()
	r.res, r.cfg = list, u.cfg
	r.mu.Unlock()
	return true
}

func (r *runner) cfgs() []configs.Resource {
	out := make([]configs.Resource, len(r.res))
	for i, x := range r.res {
		out[i] = x.cfg
	}
	return out
}

func (r *runner) anyRunningFrom(i int) bool {
	for _, x := range r.res[i:] {
		if r.get(x) != resources.Stopped {
			return true
		}
	}
	return false
}
