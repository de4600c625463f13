package coordinator

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
)

// leaderRaft is a single-voter raft that is always the leader: Apply goes
// straight to the real state machine.
type leaderRaft struct {
	mu  sync.Mutex
	fsm *state.FSM
	idx uint64

	takeoverFrom string // TakeoverRequested
	takeoverAt   time.Time
}

func (r *leaderRaft) IsLeader() bool                         { return true }
func (r *leaderRaft) Leader() (string, string)               { return "w", "" }
func (r *leaderRaft) LeaderChanges() <-chan bool             { return nil }
func (r *leaderRaft) LeaderChanged() <-chan struct{}         { return nil }
func (r *leaderRaft) Barrier(_ time.Duration) error          { return nil }
func (r *leaderRaft) TakeoverRequested() (string, time.Time) { return r.takeoverFrom, r.takeoverAt }
func (r *leaderRaft) Apply(b []byte, _ time.Duration) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.idx++
	return applyLog(r.fsm, r.idx, b), nil
}

// countingFencer fails every attempt (a dead BMC) and records when.
type countingFencer struct {
	mu       sync.Mutex
	attempts []time.Time
	err      error
}

func (f *countingFencer) Configured(node string) bool { return node == "lb1" }
func (f *countingFencer) Fence(ctx context.Context, node, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, time.Now())
	return f.err
}

func (f *countingFencer) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.attempts...)
}

// driverFixture runs the coordinator of base() (lb1 holds web) with lb1
// lost on both links.
func driverFixture(t *testing.T, fencer func(Raft) Fencer) (*Coordinator, *state.FSM, func()) {
	in := base()
	in.Links["lb1"] = Link{OK: false, Answered: true, Since: time.Now()}
	in.Members["lb1"] = membership.Member{Name: "lb1", State: membership.StateDead, Since: time.Now()}
	fsm := newFSM(t, in.Data)
	r := &leaderRaft{fsm: fsm}
	c := New(Deps{
		Config: in.Config, Raft: r, Store: fsm, Fencer: fencer(r),
		Links:   func() map[string]Link { return in.Links },
		Members: membersOf(in),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	return c, fsm, func() { cancel(); <-done }
}

// membersOf is Deps.Members for in's heartbeat-link view.
func membersOf(in Input) func() []membership.Member {
	return func() []membership.Member {
		var out []membership.Member
		for _, m := range in.Members {
			out = append(out, m)
		}
		return out
	}
}

// A fence device that never works is retried with a growing, capped
// back-off: a handful of attempts in two minutes, not one a second.
func TestFailingFenceIsRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &countingFencer{err: errors.New("bmc unreachable")}
		c, fsm, stop := driverFixture(t, func(Raft) Fencer { return f })
		start := time.Now()
		time.Sleep(2 * time.Minute)
		why := c.Decisions()["web"]
		stop()
		at := f.times()
		var gaps []time.Duration
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]).Round(100*time.Millisecond))
		}
		t.Logf("%d fence attempts in 2 minutes; gaps %v", len(at), gaps)
		// 0, 1, 3, 7, 15, 31, 61, 91 s (plus a tick each): 8 attempts.
		if len(at) < 7 || len(at) > 9 {
			t.Fatalf("%d fence attempts in 2 minutes, want 8 (back-off 1s doubling to 30s)", len(at))
		}
		if at[0].Sub(start) > time.Second {
			t.Errorf("first attempt after %v", at[0].Sub(start))
		}
		for i := 1; i < len(gaps); i++ {
			if gaps[i] < gaps[i-1] || gaps[i] > fenceBackoffMax+time.Second {
				t.Errorf("gaps %v: not growing up to the cap", gaps)
				break
			}
		}
		if !strings.Contains(why, "bmc unreachable") || !strings.Contains(why, "next attempt in") {
			t.Errorf("status reason %q; want the failure and the next attempt", why)
		}
		if g := fsm.Read().Groups["web"]; g.Holder != "lb1" || g.Node != "" {
			t.Errorf("group %+v moved while its holder is unfenced", g)
		}
	})
}

// A fence that works: the group is released and placed on lb2.
func TestFencedHolderIsReleasedAndGroupMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fencingFencer{}
		_, fsm, stop := driverFixture(t, func(r Raft) Fencer { f.raft = r; return f })
		time.Sleep(5 * time.Second)
		stop()
		g := fsm.Read().Groups["web"]
		if g.Node != "lb2" || g.Holder != "lb2" || len(f.times()) != 1 {
			t.Errorf("group %+v after %d fences; want it on lb2 after one", g, len(f.times()))
		}
	})
}

// fencingFencer succeeds and commits the fenced verdict, like the agent's.
type fencingFencer struct {
	countingFencer
	raft Raft
}

func (f *fencingFencer) Fence(ctx context.Context, node, reason string) error {
	_ = f.countingFencer.Fence(ctx, node, reason)
	b, _ := state.Encode(&state.SetNodeStatus{Node: node, Status: state.NodeFenced, Reason: reason, Time: time.Now()})
	_, err := f.raft.Apply(b, time.Second)
	return err
}

func TestStartupMaintenanceThroughTheDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := base()
		in.Config.Maintenance = true
		in.Data = &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}}
		fsm := newFSM(t, in.Data)
		c := New(Deps{Config: in.Config, Raft: &leaderRaft{fsm: fsm}, Store: fsm,
			Links:   func() map[string]Link { return in.Links },
			Members: func() []membership.Member { return nil }})
		if !c.StartupMaintenancePending() {
			t.Fatal("maintenance = true not pending at start")
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		time.Sleep(time.Second)
		cancel()
		<-done
		d := fsm.Read()
		if !d.Maintenance || c.StartupMaintenancePending() {
			t.Errorf("maintenance %v, pending %v", d.Maintenance, c.StartupMaintenancePending())
		}
		if g := d.Groups["web"]; g != nil && g.Node != "" {
			t.Errorf("group placed at a first start in maintenance: %+v", g)
		}
	})
}

// switchingRaft is leaderRaft with a leader that changes: a follower.
type switchingRaft struct {
	leaderRaft
	leader string
}

func (r *switchingRaft) Leader() (string, string) { return r.leader, "" }

// A follower notes when it stopped following its leader, as it notices the
// change (no polling tick): a new term counts the previous leader from
// then, and only if that was within a lease.
func TestNewTermKnowsWhenThePreviousLeaderWasLastFollowed(t *testing.T) {
	in := base()
	now := t0
	r := &switchingRaft{leader: "lb1"}
	c := New(Deps{Config: in.Config, Raft: r, Now: func() time.Time { return now }})
	c.noteLeader()
	now = now.Add(time.Hour) // still following lb1: no tick needed meanwhile
	r.leader = ""
	c.noteLeader()
	now = now.Add(20 * time.Millisecond)
	r.leader = "w" // this node
	c.noteLeader()
	c.establish()
	if c.term.PrevLeader != "lb1" || !c.term.PrevContact.Equal(t0.Add(time.Hour)) {
		t.Fatalf("term %+v: want lb1 followed until %v", c.term, t0.Add(time.Hour))
	}
	now = now.Add(in.Config.Cluster.Timing.Lease)
	c.establish()
	if c.term.PrevLeader != "" {
		t.Fatalf("term %+v: lb1 was last followed more than a lease ago", c.term)
	}
}

// A new term records the previous leader, and when it told this node to take
// over if it did: a takeover request from another node is not its.
func TestEstablishNotesTheHandOver(t *testing.T) {
	in := base()
	now := t0
	r := &leaderRaft{takeoverFrom: "lb1", takeoverAt: t0.Add(-15 * time.Millisecond)}
	c := New(Deps{Config: in.Config, Raft: r, Now: func() time.Time { return now }})
	c.lastLeader, c.lastLeaderAt = "lb1", t0.Add(-10*time.Millisecond)
	c.establish()
	if c.term.PrevLeader != "lb1" || !c.term.HandedOverAt.Equal(r.takeoverAt) {
		t.Fatalf("term %+v: want lb1 as previous leader, handed over at %v", c.term, r.takeoverAt)
	}
	r.takeoverFrom = "lb2"
	c.establish()
	if c.term.PrevLeader != "lb1" || !c.term.HandedOverAt.IsZero() {
		t.Fatalf("term %+v: a takeover request from lb2 is not lb1's hand-over", c.term)
	}
}

// A settled leader (every link answering) decides once a second at most
// with nothing happening, polls every idleTick while a link has not
// answered, and decides at once when LinkChanges signals.
func TestSettledLeaderWakesForEventsNotTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := base()
		fsm := newFSM(t, in.Data)
		var mu sync.Mutex
		links, rounds := in.Links, 0
		changes := make(chan struct{}, 1)
		c := New(Deps{
			Config: in.Config, Raft: &leaderRaft{fsm: fsm}, Store: fsm, LinkChanges: changes,
			Links: func() map[string]Link {
				mu.Lock()
				defer mu.Unlock()
				rounds++
				return links
			},
			Members: membersOf(in),
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		count := func(d time.Duration) int {
			mu.Lock()
			before := rounds
			mu.Unlock()
			time.Sleep(d)
			mu.Lock()
			defer mu.Unlock()
			return rounds - before
		}
		time.Sleep(time.Second) // first rounds
		if n := count(10 * time.Second); n > 11 {
			t.Errorf("settled: %d rounds in 10 s; want at most one a second", n)
		}
		mu.Lock()
		links = map[string]Link{"lb1": links["lb1"], "lb2": {OK: true, Since: time.Now()}} // lb2 not answered yet
		mu.Unlock()
		changes <- struct{}{}
		if n := count(time.Millisecond); n == 0 {
			t.Errorf("no round right after LinkChanges")
		}
		if n := count(time.Second); n < 9 {
			t.Errorf("lb2 unknown: %d rounds in 1 s; want a poll every %v", n, idleTick)
		}
		cancel()
		<-done
	})
}
