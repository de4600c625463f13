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
	trans, _, closeGate := withAnswers(inner, &answers{}, func(string) {}, nil, 0)
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
	// The observations below must come after the leader's own (its
	// election starts a fresh table): raft delivers them asynchronously.
	waitFor(t, 5*time.Second, "the leader to note its election", func() bool {
		c := &leader.node.contact
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.leaderSince.IsZero()
	})
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

// TestHeartbeatObservationBeforeAnyLeaderObservation: raft's observer does
// not block, so a leader's LeaderObservation can be dropped; the heartbeat
// observations after it must still be noted, not crash the agent (a nil
// table: seen once in CI, from a test that noted one before the observer ran).
func TestHeartbeatObservationBeforeAnyLeaderObservation(t *testing.T) {
	var n Node
	n.noteObservation(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: "n2"}}, time.Now())
	n.contact.mu.Lock()
	l, ok := n.contact.links["n2"]
	n.contact.mu.Unlock()
	if !ok || l.OK {
		t.Fatalf("failed heartbeat to n2 not noted: %+v %v", l, ok)
	}
	n.noteObservation(raft.Observation{Data: raft.ResumedHeartbeatObservation{PeerID: "n2"}}, time.Now())
}

// TestLinkChangesSignalsHeartbeatFailuresAndResumptions: the coordinator of
// a settled leader sleeps until an event, so a failed or resumed heartbeat,
// a server change and a leader change each signal LinkChanges; the signal
// never blocks raft's observer, however many arrive unread.
func TestLinkChangesSignalsHeartbeatFailuresAndResumptions(t *testing.T) {
	var n Node
	ch := n.LinkChanges()
	for _, o := range []any{
		raft.FailedHeartbeatObservation{PeerID: "n2"},
		raft.ResumedHeartbeatObservation{PeerID: "n2"},
		raft.PeerObservation{Removed: true, Peer: raft.Server{ID: "n3", Address: "a:1"}},
		raft.LeaderObservation{LeaderID: "n2"},
	} {
		n.noteObservation(raft.Observation{Data: o}, time.Now())
		n.noteObservation(raft.Observation{Data: o}, time.Now()) // unread: must not block
		select {
		case <-ch:
		default:
			t.Errorf("%T: no signal", o)
		}
		select {
		case <-ch:
			t.Errorf("%T: two signals queued; want one", o)
		default:
		}
	}
}
