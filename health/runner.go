package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults applied by NewRunner to zero Interval and Timeout.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = time.Second
)

// Named is one check as the Runner schedules it. Zero Interval, Timeout,
// Rise and Fall take the defaults (2s, 1s, 2, 3).
type Named struct {
	Name     string
	Group    string // "" for a node-wide check
	Check    Check
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Checks []Named
	Logger hclog.Logger
}

// Status is the observable state of one check.
type Status struct {
	Name        string
	Group       string
	State       string // unknown | healthy | unhealthy
	Consecutive int
	Last        Result
	Changed     time.Time // last state change; zero while still unknown
}

// Runner runs a set of checks, each on its own interval, and tracks their
// rise/fall state. It is edge-triggered: Changes fires when a state changes,
// and Snapshot tells what the states are.
type Runner struct {
	checks  []Named
	logger  hclog.Logger
	changes chan struct{}
	started atomic.Bool

	mu       sync.Mutex
	trackers []*Tracker
	changed  []time.Time
}

// NewRunner validates the config and applies defaults. It starts nothing;
// call Run.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	r := &Runner{
		logger:  logger,
		changes: make(chan struct{}, 1),
	}
	seen := map[string]bool{}
	var errs []error
	for i, c := range cfg.Checks {
		key := c.Group + "/" + c.Name
		switch {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("check %d: name is required", i))
		case seen[key]:
			errs = append(errs, fmt.Errorf("check %q (group %q): duplicate name", c.Name, c.Group))
		case c.Check == nil:
			errs = append(errs, fmt.Errorf("check %q: no Check", c.Name))
		case c.Interval < 0 || c.Timeout < 0 || c.Rise < 0 || c.Fall < 0:
			errs = append(errs, fmt.Errorf("check %q: negative interval, timeout, rise or fall", c.Name))
		}
		seen[key] = true
		if c.Interval == 0 {
			c.Interval = DefaultInterval
		}
		if c.Timeout == 0 {
			c.Timeout = DefaultTimeout
		}
		if c.Rise == 0 {
			c.Rise = DefaultRise
		}
		if c.Fall == 0 {
			c.Fall = DefaultFall
		}
		r.checks = append(r.checks, c)
		r.trackers = append(r.trackers, NewTracker(c.Rise, c.Fall))
		r.changed = append(r.changed, time.Time{})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("health runner: %w", err)
	}
	return r, nil
}

// Changes is signalled (coalesced, capacity 1) whenever any check's state
// changes. Read Snapshot after a signal to see the new states.
func (r *Runner) Changes() <-chan struct{} { return r.changes }

// Snapshot returns the status of every check, in config order.
func (r *Runner) Snapshot() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, len(r.checks))
	for i, c := range r.checks {
		t := r.trackers[i]
		out[i] = Status{
			Name:        c.Name,
			Group:       c.Group,
			State:       t.State(),
			Consecutive: t.Consecutive(),
			Last:        t.Last(),
			Changed:     r.changed[i],
		}
	}
	return out
}

// Run runs every check until ctx is cancelled, then waits for in-flight
// runs to return. Each check runs at once, then every Interval less up to
// 10% jitter (never slower than configured, so fall x interval stays an
// upper bound on detection time, and checks do not run in lockstep). Runs of
// one check never overlap. Run returns nil on cancellation; it may be called
// only once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("health runner: Run called twice")
	}
	var wg sync.WaitGroup
	for i := range r.checks {
		wg.Go(func() { r.loop(ctx, i) })
	}
	wg.Wait()
	return nil
}

func (r *Runner) loop(ctx context.Context, i int) {
	c := r.checks[i]
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		res := r.runOnce(ctx, c)
		if ctx.Err() != nil {
			return // a run cut short by shutdown is not a failure
		}
		r.observe(i, res)
		next := c.Interval - time.Duration(rand.Int64N(int64(c.Interval)/10+1))
		timer.Reset(max(0, next-time.Since(start)))
	}
}

func (r *Runner) runOnce(ctx context.Context, c Named) Result {
	rctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	res := c.Check.Run(rctx)
	if res.At.IsZero() {
		res.At = time.Now()
	}
	return res
}

func (r *Runner) observe(i int, res Result) {
	c := r.checks[i]
	r.mu.Lock()
	t := r.trackers[i]
	from := t.State()
	changed := t.Observe(res)
	if changed {
		r.changed[i] = res.At
	}
	to := t.State()
	r.mu.Unlock()
	if !changed {
		if !res.OK {
			r.logger.Debug("check failed", "check", c.Name, "group", c.Group, "state", to, "output", res.Output)
		}
		return
	}
	r.logger.Info("check state changed", "check", c.Name, "group", c.Group,
		"from", from, "to", to, "output", res.Output)
	select {
	case r.changes <- struct{}{}:
	default: // a signal is already pending; the reader will see the latest Snapshot
	}
}
