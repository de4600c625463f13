package consensus

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// heartbeatTransport keeps the heartbeat handler raft gives it.
type heartbeatTransport struct {
	raft.Transport
	fn func(raft.RPC)
}

func (t *heartbeatTransport) SetHeartbeatHandler(fn func(raft.RPC)) { t.fn = fn }

// A heartbeat in progress when raft shuts down finishes before the gate
// closes (Run closes the stores after it), and later ones never reach raft.
func TestHeartbeatGateWaitsForOneInProgressAndRefusesTheRest(t *testing.T) {
	inner := &heartbeatTransport{}
	trans, _, closeGate := withAnswers(inner, &answers{}, func(string) {}, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	trans.SetHeartbeatHandler(func(rpc raft.RPC) {
		calls++
		close(entered)
		<-release
		rpc.Respond(nil, nil)
	})
	go inner.fn(raft.RPC{RespChan: make(chan raft.RPCResponse, 1)})
	<-entered
	closed := make(chan struct{})
	go func() { closeGate(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("the gate closed while a heartbeat was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed

	resp := make(chan raft.RPCResponse, 1)
	inner.fn(raft.RPC{RespChan: resp})
	if r := <-resp; !errors.Is(r.Error, raft.ErrTransportShutdown) {
		t.Errorf("a heartbeat after the close was answered %v, want %v", r.Error, raft.ErrTransportShutdown)
	}
	if calls != 1 {
		t.Errorf("raft's handler ran %d times, want 1", calls)
	}
}

// A heartbeat failure raft reports for a peer counts until the peer answers
// a call sent after it was seen: raft reports a resumption only from the
// heartbeat loop that failed, and the loop of a peer removed and added again
// is a new one, while the old one's last failure may arrive after the add
// (TestReplaceWitness once saw the new witness offline for good so).
func TestPeerLinkFailureEndsWithAnAnswerSentAfterIt(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)
	peer := others(nodes, leader)[0].id
	late := func(at time.Time) {
		leader.node.noteObservation(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: raft.ServerID(peer)}}, at)
	}
	// Seen "in the future": no answer so far was to a call sent after it.
	late(time.Now().Add(time.Hour))
	time.Sleep(100 * time.Millisecond) // ten heartbeats answered
	if l := leader.node.PeerContact()[peer]; l.OK {
		t.Fatalf("link %+v OK with no answer since the failure", l)
	}
	leader.node.noteObservation(raft.Observation{Data: raft.ResumedHeartbeatObservation{PeerID: raft.ServerID(peer)}}, time.Now())
	late(time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for !leader.node.PeerContact()[peer].OK {
		if time.Now().After(deadline) {
			t.Fatalf("link %+v still failed 5 s after the failure, the peer answering", leader.node.PeerContact()[peer])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaderContextEndsAtTheNextLeaderChange: a call made under the leader's
// context (a lease renewal) ends when the leadership changes, and the next
// leader's context is a fresh one.
func TestLeaderContextEndsAtTheNextLeaderChange(t *testing.T) {
	var n Node
	ctx := n.LeaderContext()
	if n.LeaderContext() != ctx || ctx.Err() != nil {
		t.Fatal("the leader's context changed, or ended, with no leader change")
	}
	n.noteObservation(raft.Observation{Data: raft.LeaderObservation{LeaderID: "n2"}}, time.Now())
	select {
	case <-ctx.Done():
	default:
		t.Fatal("a leader change did not end the previous leader's context")
	}
	if next := n.LeaderContext(); next.Err() != nil {
		t.Fatal("the new leader's context is already over")
	}
}
