// Package coordinator is the leader loop. On the leader it turns facts
// (membership on the heartbeat link, raft contact on the cluster link, health
// results carried in node metadata) into committed decisions: node states,
// releases of groups whose holder is gone, and placements. Followers run the
// same loop idle, waiting for leadership.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/placement"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Raft is what the coordinator needs from consensus.
type Raft interface {
	IsLeader() bool
	Leader() (id, addr string)
	LeaderChanges() <-chan bool
	Barrier(timeout time.Duration) error
	Apply(cmd []byte, timeout time.Duration) (any, error)
}

// Link is the leader's view of one peer on the cluster link.
type Link struct {
	OK    bool
	Since time.Time // last successful contact when !OK
	// LastContact is raft's own record of the last successful contact when
	// !OK: it is not after our election if the peer never answered us.
	LastContact time.Time
}

// Store is the replicated state as the coordinator reads it.
type Store interface {
	Read() *state.Data
	Watch() <-chan struct{}
}

// Fencer fences a node and returns once the result is committed. Optional.
type Fencer interface {
	// Configured reports whether the node has fencing devices.
	Configured(node string) bool
	// Fence powers the node off (levels, delays, retries), commits the
	// history and the node's fenced state; nil means confirmed off.
	Fence(ctx context.Context, node, reason string) error
}

// Deps are the coordinator's collaborators.
type Deps struct {
	Config        *configs.Config
	Raft          Raft
	Links         func() map[string]Link // leader's cluster-link view, by node name
	Members       func() []membership.Member
	MemberChanges <-chan struct{}
	Store         Store
	Fencer        Fencer // nil: no fencing configured anywhere
	Logger        hclog.Logger
	Now           func() time.Time
}

// Coordinator runs the leader loop.
type Coordinator struct {
	d Deps

	// lastLeader is the leader this node followed most recently (not itself).
	lastLeader string

	// leader-term state, reset on every establish
	since       time.Time            // when this term's leadership was established
	prevLeader  string               // the leader before us, if we knew it
	prevContact map[string]time.Time // per node: when it was last seen on the cluster link
	fencing     map[string]bool      // fences in flight
	fenceErr    map[string]error     // per node: the last fence's error, until one succeeds
	fenceStart  map[string]time.Time // per node: when the fence in flight began
	fenceDone   chan fenceResult
	fenceWait   map[string]string // per group: why it waits for a fence (this reconcile)

	guardSeen map[string]GuardParams // per node: crash-guard parameters it gossiped

	mu    sync.Mutex
	shown map[string]string // group -> why it stays where it is (read by the API)
}

type fenceResult struct {
	node string
	err  error
}

// New returns a coordinator; Run starts it.
func New(d Deps) *Coordinator {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	return &Coordinator{d: d}
}

// tick bounds how stale a decision can be when no event arrives (lease expiry).
const tick = 50 * time.Millisecond

// Run waits for leadership and coordinates while leader, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) error {
	for {
		if c.d.Raft.IsLeader() {
			if err := c.lead(ctx); err != nil && ctx.Err() == nil {
				c.d.Logger.Warn("leadership loop ended", "error", err)
			}
		}
		if id, _ := c.d.Raft.Leader(); id != "" && id != c.d.Config.NodeName {
			c.lastLeader = id
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.d.Raft.LeaderChanges():
		case <-time.After(tick):
		}
	}
}

// lead is one leadership term: Barrier, establish, reconcile until we lose it.
func (c *Coordinator) lead(ctx context.Context) error {
	// The new leader learns of its election before its no-op commits: wait for
	// everything earlier to be applied before acting on the state (raft#509).
	if err := c.d.Raft.Barrier(5 * time.Second); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	c.establish()
	c.d.Logger.Info("leadership established")
	// Fences started in this term end with it: only the leader fences.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_ = c.apply(&state.RecordEvent{Kind: "leader", Node: c.d.Config.NodeName,
		Message: c.d.Config.NodeName + " became leader", Time: c.d.Now()})
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if !c.d.Raft.IsLeader() {
			c.d.Logger.Info("leadership lost")
			return nil
		}
		if err := c.reconcile(ctx); err != nil {
			if errors.Is(err, errNotLeader) {
				return nil
			}
			c.d.Logger.Warn("reconcile", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.d.Store.Watch():
		case <-c.d.MemberChanges:
		case r := <-c.fenceDone:
			delete(c.fencing, r.node)
			delete(c.fenceStart, r.node)
			if r.err != nil {
				c.fenceErr[r.node] = r.err
			} else {
				delete(c.fenceErr, r.node)
			}
		case <-t.C:
		}
	}
}

func (c *Coordinator) establish() {
	now := c.d.Now()
	c.since = now
	c.prevLeader = c.lastLeader
	c.prevContact = map[string]time.Time{}
	c.fencing = map[string]bool{}
	c.fenceErr = map[string]error{}
	c.fenceStart = map[string]time.Time{}
	c.fenceDone = make(chan fenceResult, 16)
	for _, n := range c.d.Config.Nodes {
		// Until proven otherwise a peer may have been in contact with the old
		// leader right up to our election: its lease counts from now.
		c.prevContact[n.Name] = now
	}
}

var errNotLeader = errors.New("not the leader")

func (c *Coordinator) apply(cmd state.Command) error {
	b, err := state.Encode(cmd)
	if err != nil {
		return err
	}
	resp, err := c.d.Raft.Apply(b, 2*time.Second)
	if err != nil {
		if !c.d.Raft.IsLeader() {
			return errNotLeader
		}
		return err
	}
	if e, ok := resp.(error); ok && e != nil {
		return e
	}
	return nil
}

// Decisions returns why groups stay where they are (leader only; for status).
func (c *Coordinator) Decisions() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.shown))
	for k, v := range c.shown {
		out[k] = v
	}
	return out
}

func (c *Coordinator) publish(why []placement.Decision) {
	m := make(map[string]string, len(why))
	for _, d := range why {
		m[d.Group] = d.Reason
	}
	for g, r := range c.fenceWait {
		m[g] = r
	}
	c.mu.Lock()
	c.shown = m
	c.mu.Unlock()
}
