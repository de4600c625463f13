package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Two-node clusters (configs two_node). With two voters raft needs both to
// elect or commit, so the survivor of a lost peer can do neither. Once the
// peer is confirmed powered off (the caller's fence), RecoverAlone rewrites
// this node's raft configuration to itself alone (raft's own recovery path:
// raft.RecoverCluster on a stopped raft) and starts raft again: it elects
// itself and commits alone. The peer, when it returns, still has the
// two-voter configuration and can win nothing without this node's vote; this
// node adds it back as a non-voter, and promotes it once it has caught up
// (AddPeer), so a peer that flaps while catching up never costs this node
// its quorum. The argument for why both nodes can never run alone at once
// is in docs/design.md, "Two-node clusters".

// ErrNotAlone: RecoverAlone refused because the configuration is not a pair
// with this node in it, or this node leads a quorum already.
var ErrNotAlone = errors.New("recover alone refused")

// Membership is the raft configuration as voter and non-voter names.
type Membership struct {
	Voters, Nonvoters []string
}

// Has reports whether id is in the configuration, and whether as a voter.
func (m Membership) Has(id string) (in, voter bool) {
	for _, v := range m.Voters {
		if v == id {
			return true, true
		}
	}
	for _, v := range m.Nonvoters {
		if v == id {
			return true, false
		}
	}
	return false, false
}

// Membership reads the current (latest, possibly uncommitted) raft
// configuration.
func (n *Node) Membership() (Membership, error) {
	r, err := n.get()
	if err != nil {
		return Membership{}, err
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return Membership{}, n.leaderErr(err)
	}
	var m Membership
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			m.Voters = append(m.Voters, string(s.ID))
		} else {
			m.Nonvoters = append(m.Nonvoters, string(s.ID))
		}
	}
	return m, nil
}

// RecoverAlone makes this node the only voter. Call it only after the other
// voter was fenced and the fence confirmed: it is raft's unsafe recovery
// path, safe here only because the peer is off and, when it boots, cannot
// win an election without this node. It refuses unless the configuration
// is exactly this node and one other voter and this node is not a leader.
// It returns once raft runs again (alone, electing itself).
func (n *Node) RecoverAlone(ctx context.Context) error {
	m, err := n.Membership()
	if err != nil {
		return err
	}
	if in, voter := m.Has(n.cfg.NodeID); !in || !voter || len(m.Voters) != 2 {
		return fmt.Errorf("%w: voters %v (want this node and one peer)", ErrNotAlone, m.Voters)
	}
	if n.cfg.ScratchFSM == nil {
		return fmt.Errorf("%w: no ScratchFSM configured", ErrNotAlone)
	}
	if n.IsLeader() {
		return fmt.Errorf("%w: this node leads a quorum", ErrNotAlone)
	}
	reply := make(chan error, 1)
	select {
	case n.alone <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-reply // the restart itself is not cancellable halfway
}

// restartAlone runs in Run's goroutine: shut raft down, rewrite the
// configuration, start raft again. If the rewrite fails raft starts again
// on its old state, so the node is never left without raft.
func (n *Node) restartAlone(old *raft.Raft, obs *raft.Observer, rc *raft.Config, st *stores,
	trans raft.Transport, reply chan<- error) *raft.Raft {
	old.DeregisterObserver(obs)
	if err := old.Shutdown().Error(); err != nil {
		n.log.Error("raft shutdown before recovering alone", "error", err)
	}
	self := raft.ServerAddress(advertiseAddr(n.cfg.BindAddr))
	for _, p := range n.cfg.Peers {
		if p.ID == n.cfg.NodeID {
			self = raft.ServerAddress(p.Address)
		}
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: self}}}
	rerr := raft.RecoverCluster(rc, n.cfg.ScratchFSM(), st.logs, st.stable, st.snaps, trans, conf)
	if rerr != nil {
		n.log.Error("cannot rewrite the raft configuration to this node alone; restarting raft unchanged", "error", rerr)
	} else {
		n.log.Warn("raft configuration rewritten: this node is the only voter")
	}
	r, err := raft.NewRaft(rc, n.cmds, st.logs, st.stable, st.snaps, trans)
	for err != nil {
		// The stores are unchanged or rewritten whole; a failure here is
		// not expected to pass, but a node without raft must keep trying.
		n.log.Error("cannot start raft again", "error", err)
		time.Sleep(time.Second)
		r, err = raft.NewRaft(rc, n.cmds, st.logs, st.stable, st.snaps, trans)
	}
	r.RegisterObserver(obs)
	n.raft.Store(r)
	reply <- rerr
	return r
}

// AddPeer adds id back to a configuration this node leads alone: first as
// a non-voter, and as a voter only once it answered this leader (so a peer
// that cannot keep up never takes this node's quorum away). It does one
// step per call and reports whether id is a voter now.
func (n *Node) AddPeer(id, addr string, timeout time.Duration) (voter bool, err error) {
	r, err := n.get()
	if err != nil {
		return false, err
	}
	m, err := n.Membership()
	if err != nil {
		return false, err
	}
	in, isVoter := m.Has(id)
	switch {
	case isVoter:
		return true, nil
	case !in:
		err = await(r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout), timeout)
		return false, n.leaderErr(err)
	}
	if !n.PeerContact()[id].InContact() {
		return false, nil
	}
	if err := await(r.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout), timeout); err != nil {
		return false, n.leaderErr(err)
	}
	return true, nil
}

// held hides a transport's Close from raft (see Run).
func held(t raft.Transport) raft.Transport {
	if pv, ok := t.(raft.WithPreVote); ok {
		return heldPreVote{heldTransport{t}, pv}
	}
	return heldTransport{t}
}

type heldTransport struct{ raft.Transport }

type heldPreVote struct {
	heldTransport
	pv raft.WithPreVote
}

func (t heldPreVote) RequestPreVote(id raft.ServerID, target raft.ServerAddress,
	args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.pv.RequestPreVote(id, target, args, resp)
}

// RemovePeer removes id from the configuration this node leads. A pair's
// leader calls it for a peer that is shutting down cleanly, so that it keeps
// a quorum (itself) when the peer is gone.
func (n *Node) RemovePeer(id string, timeout time.Duration) error {
	r, err := n.get()
	if err != nil {
		return err
	}
	return n.leaderErr(await(r.RemoveServer(raft.ServerID(id), 0, timeout), timeout))
}
