package agent

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/health"
)

// checkSet runs this node's health checks, one health.Runner per check, so
// that a reload replaces the checks that changed and leaves the others
// running with their rise/fall state (a reload must not make a healthy
// standby look unknown).
type checkSet struct {
	changes chan struct{}

	mu    sync.Mutex
	ctx   context.Context // Run's; nil before Run
	items []*checkItem
	wg    sync.WaitGroup
}

type checkItem struct {
	spec   configs.Check
	run    *health.Runner
	cancel context.CancelFunc // nil: not started
}

func newCheckSet() *checkSet { return &checkSet{changes: make(chan struct{}, 1)} }

// prepare builds the item list for specs, reusing the running item of every
// check that did not change. It starts and stops nothing: an error leaves
// the set as it is.
func (s *checkSet) prepare(specs []configs.Check, build func(configs.Check) (*health.Runner, error)) ([]*checkItem, error) {
	s.mu.Lock()
	old := append([]*checkItem(nil), s.items...)
	s.mu.Unlock()
	var out []*checkItem
	for _, c := range specs {
		var it *checkItem
		for _, o := range old {
			if reflect.DeepEqual(o.spec, c) {
				it = o
				break
			}
		}
		if it == nil {
			r, err := build(c)
			if err != nil {
				return nil, fmt.Errorf("check %q (%s): %w", c.Name, c.Type, err)
			}
			it = &checkItem{spec: c, run: r}
		}
		out = append(out, it)
	}
	return out, nil
}

// replace switches to items: checks no longer listed stop, new ones start.
// It returns how many were started and stopped.
func (s *checkSet) replace(items []*checkItem) (started, stopped int) {
	s.mu.Lock()
	keep := map[*checkItem]bool{}
	for _, it := range items {
		keep[it] = true
	}
	for _, it := range s.items {
		if !keep[it] {
			if it.cancel != nil {
				it.cancel()
			}
			stopped++
		}
	}
	prev := map[*checkItem]bool{}
	for _, it := range s.items {
		prev[it] = true
	}
	s.items = items
	for _, it := range items {
		if !prev[it] {
			started++
			s.startLocked(it)
		}
	}
	s.mu.Unlock()
	s.signal() // verdicts of removed checks go from the gossip
	return started, stopped
}

func (s *checkSet) startLocked(it *checkItem) {
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	it.cancel = cancel
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = it.run.Run(ctx) }()
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-it.run.Changes():
				s.signal()
			}
		}
	}()
}

func (s *checkSet) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// Run runs the checks until ctx ends.
func (s *checkSet) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	for _, it := range s.items {
		s.startLocked(it)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

// Changes is signalled when a check's state changes or the set changed.
func (s *checkSet) Changes() <-chan struct{} { return s.changes }

// Snapshot is every check's status, in configuration order.
func (s *checkSet) Snapshot() []health.Status {
	s.mu.Lock()
	items := append([]*checkItem(nil), s.items...)
	s.mu.Unlock()
	var out []health.Status
	for _, it := range items {
		out = append(out, it.run.Snapshot()...)
	}
	return out
}

// checksOf lists the checks a node runs under cfg: every group's checks (so
// the coordinator knows which standby is healthy) and the node-wide ones. A
// witness hosts no groups and runs only node-wide checks.
func checksOf(cfg *configs.Config) []configs.Check {
	var out []configs.Check
	if !cfg.Local().Witness {
		for _, g := range cfg.Groups {
			out = append(out, g.Checks...)
		}
	}
	return append(out, cfg.Checks...)
}
