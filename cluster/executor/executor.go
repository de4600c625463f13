// Package executor is the node-local half of vigil: it runs the groups the
// replicated state assigns to this node, and only while this node holds its
// lease (it is in contact with a quorum). It reports what it did back through
// raft. It never decides placement.
package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// Store is the replicated state as the executor reads it.
type Store interface {
	Read() *state.Data
	Watch() <-chan struct{}
}

// Deps are the executor's collaborators.
type Deps struct {
	Config *configs.Config
	Store  Store
	// Lease reports whether this node may run resources now: it is the leader,
	// or it heard from the leader within the lease (DESIGN.md invariant 3).
	Lease func() bool
	// LeaseEnd, when set, tells when the lease ends (and whether it holds
	// now); a settled runner then sleeps until then instead of polling
	// Lease. It must never report an end later than Lease honours.
	LeaseEnd func() (time.Time, bool)
	// Sync returns once this node's state includes every write the leader had
	// committed when Sync was called (raft ReadIndex). The executor calls it
	// before starting anything: a node that just regained contact must not
	// act on the stale assignment it still holds.
	Sync func(ctx context.Context) error
	// Report commits a command through the leader (forwarded from followers).
	Report func(ctx context.Context, c state.Command) error
	Agents resources.Registry
	Guard  Guard // crash guard for addresses; nil: none
	RunDir string
	Logger hclog.Logger
	Now    func() time.Time
}

// Executor runs one runner per configured group.
type Executor struct {
	d       Deps
	runners []*runner     // under fl.mu once Run started (a reload adds and drops runners)
	fl      fleet         // reconfig.go
	hurry   chan struct{} // closed by Hurry
	once    sync.Once
}

// New builds every agent of every group, so a bad parameter fails at start-up.
func New(d Deps) (*Executor, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	e := &Executor{d: d, hurry: make(chan struct{})}
	if d.Config.Local().Witness {
		// A witness votes and never hosts resources: it builds no agents
		// (their binaries need not exist there) and never starts, stops,
		// monitors or probes anything.
		return e, nil
	}
	for _, gc := range d.Config.Groups {
		r := &runner{d: d, cfg: gc, log: d.Logger.With("group", gc.Name),
			stopRetry: newRetry(stopRetryBase, stopRetryMax), startRetry: newRetry(startRetryBase, startRetryMax)}
		for _, rc := range gc.Resources {
			a, err := d.Agents.New(rc.Type, resources.Spec{
				Group: gc.Name, Name: rc.Name, Params: rc.Params, Node: d.Config.NodeName,
				RunDir: d.RunDir, Logger: d.Logger.Named(gc.Name + "." + rc.Name),
			})
			if err != nil {
				return nil, fmt.Errorf("group %q resource %q (%s): %w", gc.Name, rc.Name, rc.Type, err)
			}
			r.res = append(r.res, &res{cfg: rc, agent: a})
		}
		r.rc.def = gc
		e.runners = append(e.runners, r)
	}
	return e, nil
}

// Run drives every group until ctx ends. On the way out it stops every group
// this node runs (VIP first), so a clean shutdown never leaves a stray VIP;
// groups in maintenance are left alone. It returns an error naming every
// resource it could not stop.
func (e *Executor) Run(ctx context.Context) error {
	e.start(ctx) // every runner, and those a reload adds later (reconfig.go)
	<-ctx.Done()
	if err := e.wait(); err != nil {
		return fmt.Errorf("%w: %w", ErrLeftRunning, err)
	}
	return nil
}

// ErrLeftRunning is returned by Run when resources could not be stopped on
// the way out.
var ErrLeftRunning = errors.New("resources still running on this node")

// Hurry makes a shutdown in progress (or the next one) give up stopping
// resources and only remove the addresses: the operator's second signal.
func (e *Executor) Hurry() { e.once.Do(func() { close(e.hurry) }) }

// GuardLapsed tells every group that the crash guard removed its addresses
// (guard ClientConfig.Lapsed): each looks at them at its next step, not at
// its next monitor, and starts them again if its lease holds. A guard acts
// on the last deadline it was sent, so an agent whose renewal came a few
// tens of milliseconds late loses its VIP though its lease still holds; this
// keeps that gap to a step instead of a monitor interval. It only sets a
// flag: the guard client calls it locked.
func (e *Executor) GuardLapsed() {
	for _, r := range e.list() {
		r.guardLapsed.Store(true)
		r.kick()
	}
}

// Local is what this node's executor believes about one group.
type Local struct {
	Group     string
	Running   bool
	Resources map[string]string // name -> running | stopped | failed | unknown
	Failures  []Failure         // operations that keep failing here
}

// StoppedHere reports whether nothing of any group runs on this node: every
// resource was probed or stopped and is known to be stopped.
func (e *Executor) StoppedHere() bool {
	for _, r := range e.list() {
		if !r.stopped() {
			return false
		}
	}
	return true
}

// Local returns this node's view of its groups (for status).
func (e *Executor) Local() []Local {
	rs := e.list()
	out := make([]Local, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.local())
	}
	return out
}
