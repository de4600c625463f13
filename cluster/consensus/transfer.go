package consensus

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// TransferLeadership hands leadership to the voter id on purpose (to the
// most up-to-date voter raft picks when id is ""), and waits until raft
// reports the transfer done. Only the leader can do it. A leader that shuts
// down cleanly calls it first: the cluster then has a new leader at once
// instead of waiting out an election timeout.
func (n *Node) TransferLeadership(id string) error {
	r, err := n.get()
	if err != nil {
		return err
	}
	if r.State() == raft.Leader {
		n.transferAt.Store(time.Now().UnixNano())
	}
	var f raft.Future
	if id == "" {
		f = r.LeadershipTransfer()
	} else {
		cfg := r.GetConfiguration()
		if err := cfg.Error(); err != nil {
			return n.leaderErr(err)
		}
		var addr raft.ServerAddress
		for _, s := range cfg.Configuration().Servers {
			if string(s.ID) == id && s.Suffrage == raft.Voter {
				addr = s.Address
			}
		}
		if addr == "" {
			return fmt.Errorf("%s is not a voter in the raft configuration", id)
		}
		f = r.LeadershipTransferToServer(raft.ServerID(id), addr)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("leadership transfer: %w", n.leaderErr(err))
	}
	return nil
}

// TransferStarted is when this node last started a leadership transfer as
// leader (zero: never). Votes for the transfer's target are granted at once,
// not a heartbeat timeout after this node was last heard, so a lease that
// rests on that timeout (agent's leader lease) ends near this instant.
func (n *Node) TransferStarted() time.Time {
	if ns := n.transferAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// takeover is a TimeoutNow request: the leader that sent it, and when it
// arrived.
type takeover struct {
	from string
	at   time.Time
}

func (n *Node) noteTakeover(from string) {
	n.takeover.Store(&takeover{from: from, at: time.Now()})
}

// TakeoverRequested is the last time a leader told this node to take over
// (the target's side of a leadership transfer), and which leader; zero if
// none ever did. The old leader keeps its lease for a while after starting
// the transfer (agent lease.go), which came before this: a new leader
// elected by the transfer waits for that to end before it releases the old
// leader's groups (coordinator leaseEnd).
func (n *Node) TakeoverRequested() (from string, at time.Time) {
	if t := n.takeover.Load(); t != nil {
		return t.from, t.at
	}
	return "", time.Time{}
}
