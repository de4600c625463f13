package consensus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestPeerWaitRetriesOnlyUnreachableAppendsWhileLeading(t *testing.T) {
	refused := &unreachableError{errors.New("dial cluster port: connection refused")}
	appendReq := &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 7, PrevLogTerm: 3, LeaderCommitIndex: 7}
	hb := &raft.AppendEntriesRequest{Term: 3}
	for _, tc := range []struct {
		name    string
		args    *raft.AppendEntriesRequest
		errs    []error // what each send returns; the last repeats
		leading bool
		sends   int
		ok      bool
		// reconfigured: the configuration changes after the first refusal
		reconfigured bool
	}{
		{"back after three refusals", appendReq, []error{refused, refused, refused, nil}, true, 4, true, false},
		{"not leading any more", appendReq, []error{refused}, false, 1, false, false},
		{"a heartbeat is raft's to pace", hb, []error{refused, nil}, true, 1, false, false},
		{"reached the peer: no retry", appendReq, []error{errors.New("EOF"), nil}, true, 1, false, false},
		{"a wrapped refusal counts", appendReq, []error{fmt.Errorf("x: %w", refused), nil}, true, 2, true, false},
		{"the configuration changed", appendReq, []error{refused, nil}, true, 1, false, true},
	} {
		looks := uint64(0)
		w := &peerWait{wanted: func(id raft.ServerID, addr raft.ServerAddress, term uint64) (uint64, bool) {
			looks++
			config := uint64(1)
			if tc.reconfigured && looks > 1 {
				config = 2
			}
			return config, tc.leading && id == "n2" && addr == "a2" && term == 3
		}, max: 5 * time.Millisecond}
		sends := 0
		err := w.appendEntries("n2", "a2", tc.args, func() error {
			e := tc.errs[min(sends, len(tc.errs)-1)]
			sends++
			return e
		})
		if sends != tc.sends || (err == nil) != tc.ok {
			t.Errorf("%s: %d sends, err %v; want %d sends, ok %v", tc.name, sends, err, tc.sends, tc.ok)
		}
	}
	var none *peerWait
	if err := none.appendEntries("n2", "a2", appendReq, func() error { return refused }); err != refused {
		t.Errorf("no peerWait: err %v", err)
	}
}

// TestFollowerCatchesUpAtOnceAfterADownTime: a follower down for 6 s learns
// what was committed meanwhile as soon as it is back. Without peerWait the
// leader's raft paused 5 s between appends by then (its failure back-off
// doubles to 10 s), and the follower waited that long for the commit index.
func TestFollowerCatchesUpAtOnceAfterADownTime(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)
	f := others(nodes, leader)[0]
	if _, err := leader.node.Apply([]byte("a"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, nodes, "a")
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.node.Apply([]byte("b"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	back := start(t, f.cfg)
	began := time.Now()
	waitFor(t, 15*time.Second, "the restarted follower to apply b", func() bool { return back.fsm.has("b") })
	took := time.Since(began)
	t.Logf("caught up %v after its restart", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("the restarted follower learnt the commit index %v after it was back; want well under raft's back-off", took)
	}
}

// TestRestartAloneKeepsWhatItKnew: a node stopped cleanly and started again
// with no peer in reach (the rest of the cluster still down) has the state
// it had when it stopped, not its last periodic snapshot: it snapshots on
// the way out.
func TestRestartAloneKeepsWhatItKnew(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)
	for _, c := range []string{"a", "b"} {
		if _, err := leader.node.Apply([]byte(c), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, nodes, "b")
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
	}
	alone := start(t, nodes[0].cfg)
	if !alone.fsm.has("a") || !alone.fsm.has("b") {
		t.Fatalf("restarted alone, the state machine holds %v; want a and b", alone.fsm.cmds)
	}
}

// TestPeerWaitGivesUpDuringAPause: raft shutting down (or losing the lead)
// ends a wait within 25 ms, not at the end of the pause (up to half a
// heartbeat timeout: 1.25 s at wan), so an agent's stop is not held up by a
// peer that is down. Here the stop comes 330 ms in, during the pause from
// 310 to 630 ms.
func TestPeerWaitGivesUpDuringAPause(t *testing.T) {
	start := time.Now()
	w := &peerWait{max: 10 * time.Second, wanted: func(raft.ServerID, raft.ServerAddress, uint64) (uint64, bool) {
		return 1, time.Since(start) < 330*time.Millisecond
	}}
	refused := &unreachableError{errors.New("connection refused")}
	req := &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 7, PrevLogTerm: 3, LeaderCommitIndex: 7}
	if err := w.appendEntries("n2", "a2", req, func() error { return refused }); err != refused {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took > 550*time.Millisecond {
		t.Fatalf("gave up %v after the start, the stop came at 330 ms", took)
	}
}
