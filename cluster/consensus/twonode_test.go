package consensus

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func (f *testFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

// A pair loses one node: the survivor cannot elect until it recovers alone,
// then commits alone without losing or repeating anything; it keeps that
// configuration across its own restart; the returning peer, which still has
// the two-voter configuration, wins nothing alone and is added back, first
// as a non-voter, then as a voter.
func TestRecoverAloneAndAddPeerBack(t *testing.T) {
	nodes, _ := tlsCluster(t, 2)
	for _, n := range nodes {
		n.node.cfg.ScratchFSM = func() raft.FSM { return &testFSM{} }
		n.cfg.ScratchFSM = n.node.cfg.ScratchFSM
	}
	leader := leaderOf(t, nodes, 10*time.Second)
	if _, err := leader.node.Apply([]byte("a"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, nodes, "a")
	ctx := context.Background()
	if err := leader.node.RecoverAlone(ctx); !errors.Is(err, ErrNotAlone) {
		t.Fatalf("RecoverAlone on the leader of a healthy pair: %v, want ErrNotAlone", err)
	}

	gone := others(nodes, leader)[0]
	survivor := leader
	if err := gone.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the survivor to lose leadership", func() bool { return !survivor.node.IsLeader() })
	time.Sleep(time.Second) // elections keep failing: one voter of two
	if survivor.node.IsLeader() {
		t.Fatal("one node of two elected itself before recovering")
	}

	if err := survivor.node.RecoverAlone(ctx); err != nil {
		t.Fatalf("RecoverAlone: %v", err)
	}
	waitFor(t, 10*time.Second, "the survivor to lead alone", survivor.node.IsLeader)
	if m, _ := survivor.node.Membership(); !slices.Equal(m.Voters, []string{survivor.id}) {
		t.Fatalf("voters after recovery %v, want only %s", m.Voters, survivor.id)
	}
	if _, err := survivor.node.Apply([]byte("b"), 5*time.Second); err != nil {
		t.Fatalf("Apply alone: %v", err)
	}
	if got := survivor.fsm.list(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("FSM after recovery %v, want [a b] (nothing lost, nothing applied twice)", got)
	}
	if err := survivor.node.RecoverAlone(ctx); !errors.Is(err, ErrNotAlone) {
		t.Fatalf("second RecoverAlone: %v, want ErrNotAlone", err)
	}

	// The survivor reboots while its peer is still off: it is still the
	// only voter and leads at once.
	if err := survivor.stop(); err != nil {
		t.Fatal(err)
	}
	survivor = start(t, survivor.cfg)
	waitFor(t, 10*time.Second, "the restarted survivor to lead alone", survivor.node.IsLeader)
	waitFor(t, 5*time.Second, "state restored", func() bool { return survivor.fsm.has("b") })

	// The peer comes back with its old two-voter configuration.
	gone = start(t, gone.cfg)
	time.Sleep(time.Second)
	if gone.node.IsLeader() {
		t.Fatal("the returning peer elected itself")
	}
	if !survivor.node.IsLeader() {
		t.Fatal("the returning peer took leadership away from the survivor")
	}
	var voter bool
	waitFor(t, 10*time.Second, "the peer to be a voter again", func() bool {
		var err error
		voter, err = survivor.node.AddPeer(gone.id, gone.cfg.BindAddr, 2*time.Second)
		if err != nil {
			t.Logf("AddPeer: %v", err)
		}
		return voter
	})
	m, err := survivor.node.Membership()
	if err != nil || len(m.Voters) != 2 || len(m.Nonvoters) != 0 {
		t.Fatalf("membership after AddPeer %+v, %v", m, err)
	}
	if _, err := survivor.node.Apply([]byte("c"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the peer to catch up", func() bool { return gone.fsm.has("c") })
	if got := gone.fsm.list(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("peer FSM %v, want [a b c]", got)
	}
}

func TestHeldTransportKeepsPreVote(t *testing.T) {
	_, tr := raft.NewInmemTransport("")
	if _, ok := held(tr).(raft.WithClose); ok {
		t.Error("held transport still exposes Close to raft")
	}
	if _, ok := held(tr).(raft.WithPreVote); !ok {
		t.Error("held transport lost pre-vote")
	}
}
