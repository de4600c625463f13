package coordinator

import (
	"math/rand/v2"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Two-node rules (configs two_node; docs/design.md, "Two-node clusters").
// They run on both nodes, leader or not: with two voters a lost peer leaves
// no leader to decide anything, so each node decides for itself whether it
// may fence its peer and continue alone. These functions are pure; the
// agent's pair loop gathers the facts and acts.

// PairFacts is one node's view of its pair.
type PairFacts struct {
	Now time.Time
	// SelfVoter, PeerVoter: in this node's raft configuration. Alone: this
	// node is the only voter (it fenced its peer earlier).
	SelfVoter, PeerVoter, Alone bool
	Leader                      bool
	// LeaderIsPeer and LeaderContact: a follower's leader and when it last
	// heard from it (zero if never).
	LeaderIsPeer  bool
	LeaderContact time.Time
	// PeerAnswered: as leader, the peer answers heartbeats now and has
	// answered this leader at least once.
	PeerAnswered bool
	// Peer is the peer on the heartbeat link (nil: never seen there).
	Peer *membership.Member
	// PeerLeaving: the peer's current incarnation marked itself leaving (a
	// clean shutdown in progress: it is still on the heartbeat link).
	PeerLeaving bool
	// Lease is cluster timing's lease.
	Lease time.Duration
}

// PairStep is what a node of a pair should do now.
type PairStep int

const (
	PairIdle PairStep = iota
	// PairRace: the peer is lost on both links; fence it (after the race
	// delay) and, once the fence is confirmed, continue alone.
	PairRace
	// PairLeft: the peer left on purpose (clean shutdown) more than a
	// lease ago; continue alone without fencing it.
	PairLeft
	// PairReadd: this node leads alone and the peer is back on the
	// heartbeat link; add it back to the raft configuration.
	PairReadd
)

func (s PairStep) String() string {
	return [...]string{"idle", "race", "left", "readd"}[s]
}

// Working reports whether the pair works with both voters, as seen from
// here: the evidence a node needs once per incarnation before it may fence
// its peer (wait_for_all). A node that booted and never reached its peer
// cannot tell a dead peer from a cut cable, and its peer may be running
// alone after fencing it.
func (f PairFacts) Working() bool {
	if !f.SelfVoter || !f.PeerVoter || f.Alone {
		return false
	}
	if f.Leader {
		return f.PeerAnswered
	}
	return f.LeaderIsPeer && f.clusterUp()
}

// clusterUp: a fresh answer on the cluster link (leader: the peer answers;
// follower: the leader was heard within the lease).
func (f PairFacts) clusterUp() bool {
	if f.Leader {
		return f.PeerAnswered
	}
	return !f.LeaderContact.IsZero() && f.Now.Sub(f.LeaderContact) < f.Lease
}

// heartbeatLost: memberlist declared the peer dead or left, or never saw it.
func (f PairFacts) heartbeatLost() bool {
	return f.Peer == nil || f.Peer.State == membership.StateDead || f.Peer.State == membership.StateLeft
}

// DecidePair picks the step. armed is whether this incarnation has seen the
// pair working (or the operator forced it to start alone).
func DecidePair(f PairFacts, armed bool) PairStep {
	if f.Alone {
		// A peer shutting down cleanly is still on the heartbeat link after
		// it left the voters: added back, it would leave this node without
		// a quorum (and its groups without a lease) when it exits. Its next
		// incarnation is added back.
		if f.Leader && f.Peer != nil && f.Peer.State == membership.StateAlive && !f.PeerLeaving {
			return PairReadd
		}
		return PairIdle
	}
	// Invariant 6: only both signals lost is a failure. A leader that
	// still leads has a quorum, hence its peer.
	if !armed || !f.SelfVoter || !f.PeerVoter || f.Leader || f.clusterUp() || !f.heartbeatLost() {
		return PairIdle
	}
	if f.Peer != nil && f.Peer.State == membership.StateLeft {
		if f.Now.Sub(f.Peer.Since) >= f.Lease {
			return PairLeft
		}
		return PairIdle
	}
	return PairRace
}

// RaceDelay is how long this node waits before fencing its peer in a fence
// race. The peer's own fence_delay (static, plus random up to
// fence_delay_max) always applies; the priority delay is added when the
// peer holds a group and this node holds none, so that the node running the
// service wins a race it is healthy enough to run (Pacemaker's
// priority-fencing-delay). A holder that froze loses anyway: it cannot fence.
func RaceDelay(cfg *configs.Config, data *state.Data, self, peer string, rnd *rand.Rand) time.Duration {
	pc := cfg.Node(peer)
	d := max(pc.FenceDelay, 0)
	if pc.FenceDelayMax > 0 && rnd != nil {
		d += time.Duration(rnd.Int64N(int64(pc.FenceDelayMax)))
	}
	if holds(data, peer) && !holds(data, self) {
		d += cfg.Cluster.PriorityFenceDelay
	}
	return d
}

func holds(data *state.Data, node string) bool {
	for _, g := range data.Groups {
		if g.Holder == node {
			return true
		}
	}
	return false
}
