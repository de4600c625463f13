package consensus

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestFollowersApplyPromptlyWithALongCommitTimeout: a follower learns that
// an entry committed from the barrier Apply sends after it, not from raft's
// commit timeout (here 5 s, so waiting for it would fail the test), and a
// follower catching up to the leader's read index (what the executor does
// before it starts a group) need not wait for that barrier's commit.
func TestFollowersApplyPromptlyWithALongCommitTimeout(t *testing.T) {
	timing := fastTiming()
	timing.RaftCommitTimeout = 5 * time.Second
	nodes, _ := tlsClusterTimed(t, 3, timing)
	leader := leaderOf(t, nodes, 10*time.Second)
	// Let the election's own entries settle first.
	if _, err := leader.node.Apply([]byte("warm-up"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, nodes, "warm-up")
	for i, cmd := range []string{"a", "b", "c"} {
		if _, err := leader.node.Apply([]byte(cmd), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		applied := time.Now()
		for _, f := range others(nodes, leader) {
			waitFor(t, time.Second, f.id+" to apply "+cmd+" well before the 5 s commit timeout",
				func() bool { return f.fsm.has(cmd) })
		}
		t.Logf("entry %d: followers applied it %v after the leader", i, time.Since(applied).Round(time.Millisecond))
		idx, err := leader.node.ReadIndex(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range others(nodes, leader) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := f.node.WaitApplied(ctx, idx); err != nil {
				t.Errorf("%s did not reach the read index well before the 5 s commit timeout: %v", f.id, err)
			}
			cancel()
		}
	}
	for _, f := range others(nodes, leader) {
		if _, err := f.node.ReadIndex(context.Background()); err == nil {
			t.Errorf("%s: ReadIndex on a follower succeeded", f.id)
		}
	}
}

// TestWaitAppliedWaitsForTheFSM: raft counts an entry applied once it is on
// its way to the FSM. A follower whose FSM is slow (a restarted node
// catching up applies dozens of entries at once) must not take the read
// index as reached before its FSM has applied the commands: it would act on
// an old state (a lab test saw a restarted node start a group the leader
// had moved away meanwhile).
func TestWaitAppliedWaitsForTheFSM(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)
	slow := others(nodes, leader)[0]
	slow.fsm.delay.Store(int64(30 * time.Millisecond))
	var last string
	for i := range 8 {
		last = fmt.Sprintf("burst-%d", i)
		if _, err := leader.node.Apply([]byte(last), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idx, err := leader.node.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.node.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if !slow.fsm.has(last) {
		t.Fatalf("WaitApplied(%d) returned before the FSM applied %s", idx, last)
	}
}
