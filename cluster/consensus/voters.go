package consensus

import (
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
	r, err := n.get()
	if err != nil {
		return raftmembers.Verdict{}, err
	}
	if r.State() != raft.Leader {
		return raftmembers.Verdict{}, n.leaderErr(raft.ErrNotLeader)
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftmembers.Verdict{}, n.leaderErr(err)
	}
	var servers []raftmembers.Server
	for _, s := range f.Configuration().Servers {
		servers = append(servers, raftmembers.Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	live := map[string]bool{}
	for id, l := range n.PeerContact() {
		live[id] = l.Answered && l.OK
	}
	v, err := raftmembers.Check(servers, n.cfg.NodeID, live, c)
	if err != nil || v.NoOp {
		return v, err
	}
	// The index pins the change to the configuration that was checked: a
	// concurrent change makes raft refuse this one.
	idx := f.Index()
	switch c.Op {
	case "add":
		err = r.AddVoter(raft.ServerID(c.ID), raft.ServerAddress(c.Address), idx, timeout).Error()
	case "remove":
		err = r.RemoveServer(raft.ServerID(c.ID), idx, timeout).Error()
	}
	if err == nil {
		n.forgetLink(c.ID)
	}
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
