// Package coordinator is the leader loop. On the leader it turns facts
// (membership on the heartbeat link, raft contact on the cluster link, health
// results carried in node metadata) into committed decisions: node states,
// releases of groups whose holder is gone, fences and placements. The
// decisions are made by Decide, a pure function (decide.go, verdict.go,
// release.go); this file is the thin driver that gathers its input, commits
// its commands through raft and runs its fences. Followers run the same loop
// idle, waiting for leadership.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Raft is what the coordinator needs from consensus.
type Raft interface {
	IsLeader() bool
	Leader() (id, addr string)
	LeaderChanges() <-chan bool
	// LeaderChanged is closed when the leader this node knows of changes
	// (to none included).
	LeaderChanged() <-chan struct{}
	Barrier(timeout time.Duration) error
	Apply(cmd []byte, timeout time.Duration) (any, error)
	// TakeoverRequested is when a leader last told this node to take over
	// (a leadership transfer), and which; zero if none did.
	TakeoverRequested() (from string, at time.Time)
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
	Config *configs.Config
	Raft   Raft
	Links  func() map[string]Link // leader's cluster-link view, by node name
	// LinkChanges receives when the cluster-link view may have changed with
	// no new answer (a heartbeat failed or resumed, a server added or
	// removed); nil: never.
	LinkChanges   <-chan struct{}
	Members       func() []membership.Member
	MemberChanges <-chan struct{}
	Store         Store
	Fencer        Fencer // nil: no fencing configured anywhere
	// Reach asks whether a lost node's host answers at all (reach.go); nil:
	// never asked, the lease alone decides.
	Reach  ReachFunc
	Logger hclog.Logger
	Now    func() time.Time
}

// Coordinator runs the leader loop.
type Coordinator struct {
	d Deps

	// The leader this node followed most recently (not itself), and when
	// it last did; following is the one it follows now.
	lastLeader   string
	lastLeaderAt time.Time
	following    string

	// startMaint: the config says maintenance = true and this agent has not
	// committed it yet (see StartupMaintenancePending).
	startMaint atomic.Bool

	// leader-term state, reset on every establish
	term      Term
	fences    map[string]FenceState
	fenceDone chan fenceResult
	probed    map[string]time.Time // reach.go
	silent    map[string]time.Time
	reachDone chan reachResult

	guardSeen map[string]GuardParams // per node: crash-guard parameters it gossiped

	live     atomic.Pointer[configs.Config] // set by SetConfig (reconfig.go)
	reloaded chan struct{}                  // SetConfig wakes the leader loop
	settled  settledDefs                    // leader loop only (reconfig.go)

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
	c := &Coordinator{d: d, reloaded: make(chan struct{}, 1)}
	c.startMaint.Store(d.Config.Maintenance)
	return c
}

// StartupMaintenancePending reports whether this agent's `maintenance =
// true` still has to be committed. Whoever commits it (this coordinator when
// it leads, or the agent's start-up announcement through the leader) calls
// StartupMaintenanceDone: the config puts the cluster in maintenance once
// per agent start, like `vigil maintenance on`, and `vigil maintenance off`
// later is not undone by a leader change.
func (c *Coordinator) StartupMaintenancePending() bool { return c.startMaint.Load() }

// StartupMaintenanceDone records that the start-up maintenance is committed.
func (c *Coordinator) StartupMaintenanceDone() { c.startMaint.Store(false) }

// Run waits for leadership and coordinates while leader, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) error {
	for {
		changed := c.d.Raft.LeaderChanged()
		c.noteLeader()
		wait := c.followerPoll()
		if c.d.Raft.IsLeader() {
			if err := c.lead(ctx); err != nil && ctx.Err() == nil {
				c.d.Logger.Warn("leadership loop ended", "error", err)
			}
			wait = leadRetry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.d.Raft.LeaderChanges():
		case <-changed:
		case <-time.After(wait):
		}
	}
}

// noteLeader remembers the leader this node follows, and when it stopped
// following it: a new leader counts the previous one's groups as released
// soon after its election only if it followed that leader within a lease
// before (establish). It runs when the leader changes, not on a tick.
func (c *Coordinator) noteLeader() {
	id, _ := c.d.Raft.Leader()
	if id == c.d.Config.NodeName {
		id = ""
	}
	now := c.d.Now()
	if c.following != "" {
		c.lastLeader, c.lastLeaderAt = c.following, now // followed until now
	}
	c.following = id
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
	t := time.NewTimer(idleTick)
	defer t.Stop()
	for {
		if !c.d.Raft.IsLeader() {
			c.d.Logger.Info("leadership lost")
			return nil
		}
		changed := c.d.Raft.LeaderChanged()
		wake, poll, err := c.reconcile(ctx)
		if err != nil {
			if errors.Is(err, errNotLeader) {
				return nil
			}
			c.d.Logger.Warn("reconcile", "error", err)
		}
		t.Reset(nextWake(c.d.Now(), wake, poll))
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-c.d.Store.Watch():
		case <-c.d.MemberChanges:
		case <-c.d.LinkChanges:
		case <-c.reloaded:
		case r := <-c.fenceDone:
			c.fences[r.node] = fenceEnded(c.fences[r.node], c.d.Now(), r.err)
		case r := <-c.reachDone:
			c.noteProbe(r)
		case <-t.C:
		}
	}
}

func (c *Coordinator) establish() {
	now := c.d.Now()
	c.term = Term{Since: now}
	if c.lastLeader != "" && now.Sub(c.lastLeaderAt) < c.d.Config.Cluster.Timing.Lease {
		c.term.PrevLeader, c.term.PrevContact = c.lastLeader, c.lastLeaderAt
		if from, at := c.d.Raft.TakeoverRequested(); from == c.lastLeader {
			c.term.HandedOverAt = at
		}
	}
	c.fences = map[string]FenceState{}
	c.fenceDone = make(chan fenceResult, 16)
	c.probed, c.silent = map[string]time.Time{}, map[string]time.Time{}
	c.reachDone = make(chan reachResult, 16)
}

// maxSteps bounds one reconcile: each step's commands change the state the
// next step reads, and a step that changes nothing ends it earlier.
const maxSteps = 8

// Without an event, the leader decides again at the step's Wake, and at
// least every idleTick while the step asks to Poll (a link not in contact:
// its first answer, or its return, is signalled by nothing), else at least
// every settledTick. An idle cluster is settled: its leader wakes for its
// links' deadlines and for events, not ten times a second.
const (
	idleTick    = 100 * time.Millisecond
	settledTick = time.Second
)

// leadRetry: a term that ended while this node still leads (its barrier
// failed) is tried again this soon.
const leadRetry = 50 * time.Millisecond

// followerPoll: a follower also notes its leader this often, in case raft
// dropped the observation of a change (it logs that): the previous leader
// then counts as followed up to a poll later than it was, which only
// delays what the next leader does with it.
func (c *Coordinator) followerPoll() time.Duration { return c.d.Config.Cluster.Timing.Lease }

// nextWake is the wait until the next decision.
func nextWake(now, wake time.Time, poll bool) time.Duration {
	d := settledTick
	if poll {
		d = idleTick
	}
	if !wake.IsZero() {
		d = min(d, max(wake.Sub(now), time.Millisecond))
	}
	return d
}

// reconcile runs decision steps until one has nothing to commit, and
// returns that step's Wake and Poll. After an error, or when more steps
// were needed than it takes, it asks to poll: the next tick decides again.
func (c *Coordinator) reconcile(ctx context.Context) (time.Time, bool, error) {
	if err := c.defineGroups(); err != nil {
		return time.Time{}, true, err
	}
	for range maxSteps {
		out := Decide(c.input())
		for _, f := range out.Fences {
			c.startFence(ctx, f.Node, f.Reason)
		}
		for _, n := range out.Probes {
			c.startProbe(ctx, n)
		}
		if len(out.Commands) == 0 {
			c.publish(out.Why)
			return out.Wake, out.Poll, nil
		}
		held := false
		for _, cmd := range out.Commands {
			err := c.apply(cmd)
			if m, ok := cmd.(*state.SetMaintenance); ok && err == nil && m.On && m.Group == "" {
				c.StartupMaintenanceDone()
			}
			if errors.Is(err, state.ErrHeld) {
				// The holder changed under us: the next tick decides again.
				c.d.Logger.Debug("assignment refused", "error", err)
				held = true
				continue
			}
			if err != nil {
				return time.Time{}, true, err
			}
		}
		if held {
			return time.Time{}, true, nil
		}
	}
	return time.Time{}, true, nil
}

// input gathers everything Decide reads.
func (c *Coordinator) input() Input {
	members := map[string]membership.Member{}
	for _, m := range c.d.Members() {
		members[m.Name] = m
	}
	c.noteGuards(members)
	guards := make(map[string]GuardParams, len(c.guardSeen))
	for k, v := range c.guardSeen {
		guards[k] = v
	}
	data := c.d.Store.Read()
	start := c.StartupMaintenancePending()
	if start && data.Maintenance {
		c.StartupMaintenanceDone() // already on: nothing to commit
		start = false
	}
	in := Input{Config: c.config(), Data: data, Now: c.d.Now(), Links: c.d.Links(), Members: members,
		Term: c.term, Fences: c.fences, Guards: guards, StartupMaintenance: start,
		Probed: c.probed, Silent: c.silent}
	if c.d.Fencer != nil {
		in.Fenceable = c.d.Fencer.Configured
	}
	return in
}

// startFence fences a node in the background; the result arrives in the loop.
func (c *Coordinator) startFence(ctx context.Context, node, reason string) {
	f := c.fences[node]
	if f.InFlight || node == c.d.Config.NodeName || c.d.Fencer == nil {
		return
	}
	f.InFlight, f.Started = true, c.d.Now()
	c.fences[node] = f
	done := c.fenceDone
	go func() {
		err := c.d.Fencer.Fence(ctx, node, reason)
		if err != nil {
			c.d.Logger.Error("fencing failed; its groups stay stopped", "node", node, "error", err)
		}
		done <- fenceResult{node: node, err: err}
	}()
}

var errNotLeader = errors.New("not the leader")

func (c *Coordinator) apply(cmd state.Command) error {
	b, err := state.Encode(cmd)
	if err != nil {
		return err
	}
	start := c.d.Now()
	resp, err := c.d.Raft.Apply(b, 2*time.Second)
	c.d.Logger.Debug("committed", "command", hclog.Fmt("%T", cmd), "took", c.d.Now().Sub(start).Round(10*time.Microsecond), "error", err)
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

func (c *Coordinator) publish(why map[string]string) {
	c.mu.Lock()
	c.shown = why
	c.mu.Unlock()
}
