package consensus

import (
	"context"
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
			waitFor(t, time.Second, f.id+" to reach the read index well before the 5 s commit timeout",
				func() bool { return f.node.AppliedIndex() >= idx })
		}
	}
	for _, f := range others(nodes, leader) {
		if _, err := f.node.ReadIndex(context.Background()); err == nil {
			t.Errorf("%s: ReadIndex on a follower succeeded", f.id)
		}
	}
}
