package consensus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func must[T any](v T, _ error) T { return v }

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

// TestRestartedFollowerLearnsTheCommitWhenPushed: a follower restarted
// with every entry in its log does not know which committed until the
// leader's next append, up to two commit timeouts away on an idle cluster
// (here 5 s). PushCommit (the RPC server calls it when a follower asks for
// a read index, which it does before it acts on its state) sends it at once,
// or, when it finds the pipeline from before the restart broken, the next
// push does.
func TestRestartedFollowerLearnsTheCommitWhenPushed(t *testing.T) {
	timing := fastTiming()
	timing.RaftCommitTimeout = 5 * time.Second
	nodes, _ := tlsClusterTimed(t, 3, timing)
	leader := leaderOf(t, nodes, 10*time.Second)
	for _, cmd := range []string{"a", "b"} {
		if _, err := leader.node.Apply([]byte(cmd), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, nodes, "b")
	f := others(nodes, leader)[0]
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	// As after a crash: no snapshot taken on the way out (a clean stop
	// takes one, and the state then holds b without any commit index).
	snaps, _ := filepath.Glob(filepath.Join(f.cfg.DataDir, "*", "snapshots", "*"))
	snaps = append(snaps, must(filepath.Glob(filepath.Join(f.cfg.DataDir, "snapshots", "*")))...)
	for _, s := range snaps {
		if err := os.RemoveAll(s); err != nil {
			t.Fatal(err)
		}
	}
	back := start(t, f.cfg)
	// Heartbeats resume at once; the first append is due only with the
	// commit timeout.
	time.Sleep(300 * time.Millisecond)
	if back.fsm.has("b") {
		t.Fatalf("the restarted follower applied b before any push (snapshots removed: %v)", snaps)
	}
	// The first push may go down the pipeline connection from before the
	// restart: raft sees it broken only then and retries at its next commit
	// timeout. The agent asks again after 100 ms (agent.sync); so does this.
	pushed := time.Now()
	for i := 0; i < 3 && !back.fsm.has("b"); i++ {
		leader.node.PushCommit()
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, time.Second, "the restarted follower to apply b after the pushes", func() bool { return back.fsm.has("b") })
	t.Logf("applied %v after the first push", time.Since(pushed).Round(time.Millisecond))
}
