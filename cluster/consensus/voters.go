package consensus

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/raftmembers"
)

// Configuration returns the raft servers with their suffrage.
func (n *Node) Configuration() ([]raftmembers.Server, error) {
	r, err := n.get()
	if err != nil {
		return nil, err
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.leaderErr(err)
	}
	var out []raftmembers.Server
	for _, s := range f.Configuration().Servers {
		out = append(out, raftmembers.Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// ChangeVoters applies a voter change on the leader after
// raftmembers.Check allowed it against the current configuration and the
// voters in contact (PeerContact: only a fresh answer counts). It returns
// the verdict; the change is committed when it returns nil.
func (n *Node) ChangeVoters(c raftmembers.Change, timeout time.Duration) (raftmembers.Verdict, error) {
	r, servers, idx, live, err := n.voterView()
	if err != nil {
		return raftmembers.Verdict{}, err
	}
	v, err := raftmembers.Check(servers, n.cfg.NodeID, live, c)
	if err != nil && raftmembers.CatchUpFirst(servers, n.cfg.NodeID, live, c) {
		return n.addThroughNonvoter(r, servers, idx, c, timeout, err)
	}
	if err != nil || v.NoOp {
		return v, err
	}
	// The index pins the change to the configuration that was checked: a
	// concurrent change makes raft refuse this one.
	switch c.Op {
	case "add":
		err = await(r.AddVoter(raft.ServerID(c.ID), raft.ServerAddress(c.Address), idx, timeout), timeout)
	case "remove":
		err = await(r.RemoveServer(raft.ServerID(c.ID), idx, timeout), timeout)
	}
	if err == nil {
		n.forgetLink(c.ID)
	}
	return v, n.leaderErr(err)
}

// voterView is what a voter change is checked against on the leader: the
// configuration, its index, and the servers that answered this leader.
func (n *Node) voterView() (*raft.Raft, []raftmembers.Server, uint64, map[string]bool, error) {
	r, err := n.get()
	if err != nil {
		return nil, nil, 0, nil, err
	}
	if r.State() != raft.Leader {
		return nil, nil, 0, nil, n.leaderErr(raft.ErrNotLeader)
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, nil, 0, nil, n.leaderErr(err)
	}
	var servers []raftmembers.Server
	for _, s := range f.Configuration().Servers {
		servers = append(servers, raftmembers.Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	live := map[string]bool{}
	for id, l := range n.PeerContact() {
		live[id] = l.InContact()
	}
	return r, servers, f.Index(), live, nil
}

// addThroughNonvoter adds c.ID as a non-voter (no majority changes) to the
// configuration servers at index idx that ChangeVoters checked, waits up to
// timeout for it to answer this leader at its address, and then promotes
// it, checked again with its answer counted (raftmembers CatchUpFirst). A
// node that gives no answer is removed again if this call added it, and the
// change refused as at first (refused).
func (n *Node) addThroughNonvoter(r *raft.Raft, servers []raftmembers.Server, idx uint64, c raftmembers.Change,
	timeout time.Duration, refused error) (raftmembers.Verdict, error) {
	added := !slices.ContainsFunc(servers, func(s raftmembers.Server) bool { return s.ID == c.ID })
	if !slices.Contains(servers, raftmembers.Server{ID: c.ID, Address: c.Address}) {
		if err := await(r.AddNonvoter(raft.ServerID(c.ID), raft.ServerAddress(c.Address), idx, timeout), timeout); err != nil {
			return raftmembers.Verdict{}, n.leaderErr(err)
		}
		n.forgetLink(c.ID) // only an answer at the new address counts
		n.log.Info("joined as a non-voter; a voter once it answers", "node", c.ID)
	}
	deadline := time.Now().Add(timeout)
	for {
		if n.PeerContact()[c.ID].InContact() {
			break
		}
		if time.Now().After(deadline) {
			if !added {
				return raftmembers.Verdict{}, fmt.Errorf("%w; %s, a non-voter, gave no answer within %v: check that its agent runs",
					refused, c.ID, timeout)
			}
			if err := await(r.RemoveServer(raft.ServerID(c.ID), 0, timeout), timeout); err != nil {
				return raftmembers.Verdict{}, fmt.Errorf("%w; %s joined as a non-voter so that its answer could count, "+
					"gave none within %v, and could not be removed again: %v", refused, c.ID, timeout, n.leaderErr(err))
			}
			return raftmembers.Verdict{}, fmt.Errorf("%w; %s joined as a non-voter so that its answer could count, but gave "+
				"none within %v and was removed again: check that its agent runs", refused, c.ID, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, servers, idx, live, err := n.voterView()
	if err != nil {
		return raftmembers.Verdict{}, err
	}
	v, err := raftmembers.Check(servers, n.cfg.NodeID, live, c)
	if err != nil {
		return v, err
	}
	err = await(r.AddVoter(raft.ServerID(c.ID), raft.ServerAddress(c.Address), idx, timeout), timeout)
	return v, n.leaderErr(err)
}

// forgetLink drops the contact record of a server whose membership changed.
// raft starts a new replication for it and reports only failures and their
// end: a failure recorded before a replaced machine was re-added would
// otherwise stick, although the new machine answers; and an answer of the
// old machine is no evidence about the new one. Without either record the
// peer is unknown until it answers this leader (PeerContact's Answered).
func (n *Node) forgetLink(id string) {
	c := &n.contact
	c.mu.Lock()
	delete(c.links, id)
	c.mu.Unlock()
	n.answers.mu.Lock()
	delete(n.answers.last, id)
	n.answers.mu.Unlock()
}
