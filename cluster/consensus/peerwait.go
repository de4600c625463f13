package consensus

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// unreachableError is a dial that never reached the peer's cluster port
// (refused, no route, timed out): nothing was sent.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// peerWait keeps a leader's AppendEntries to a peer that is down from
// failing at once. hashicorp/raft doubles its pause after every failed
// append to a peer (10 ms, 20 ms, ... 10.24 s: replication.go), and only
// appends carry the commit index (heartbeats do not). So a follower that was
// down for a few seconds used to learn what is committed only up to 10 s
// after it came back: a restarted agent acts on nothing until then
// (executor/current.go) and could not take a group over. An append that
// could not even connect is retried instead, with raft's own heartbeat
// back-off (10 ms doubling up to half a heartbeat timeout), for as long as
// this node still leads in the request's term and the peer is still a
// member: it reaches the peer as soon as its port answers again, and raft's
// failure count does not grow.
type peerWait struct {
	// wanted: still leader in this term (false once raft shuts down), with
	// the peer in the configuration at that address; and the index of that
	// configuration.
	wanted func(id raft.ServerID, addr raft.ServerAddress, term uint64) (config uint64, ok bool)
	max    time.Duration
}

func (w *peerWait) appendEntries(id raft.ServerID, addr raft.ServerAddress, args *raft.AppendEntriesRequest, send func() error) error {
	err := send()
	if w == nil || heartbeat(args) {
		return err // raft paces heartbeats itself, capped at half a heartbeat timeout
	}
	var ue *unreachableError
	if !errors.As(err, &ue) {
		return err
	}
	// A configuration change ends the wait: raft stops the replication of
	// a removed peer, and one added again gets a new one, while this call
	// would otherwise resume with the old one's request.
	config, ok := w.wanted(id, addr, args.Term)
	for pause := 10 * time.Millisecond; ok && errors.As(err, &ue) && w.wait(pause, id, addr, args.Term, config); pause = min(2*pause, w.max) {
		err = send()
	}
	return err
}

// wait sleeps for d unless the append stops being wanted first (raft shuts
// down, loses the lead, drops the peer, changes its configuration): it
// looks every 25 ms, so a stop is not held up by a long pause.
func (w *peerWait) wait(d time.Duration, id raft.ServerID, addr raft.ServerAddress, term, config uint64) bool {
	for end := time.Now().Add(d); ; {
		if c, ok := w.wanted(id, addr, term); !ok || c != config {
			return false
		}
		left := time.Until(end)
		if left <= 0 {
			return true
		}
		time.Sleep(min(left, 25*time.Millisecond))
	}
}

// heartbeat tells raft's heartbeat from an append, as its transport does.
func heartbeat(args *raft.AppendEntriesRequest) bool {
	return len(args.Entries) == 0 && args.PrevLogEntry == 0 && args.PrevLogTerm == 0 && args.LeaderCommitIndex == 0
}

// replicatingTo reports whether this node's raft still leads in term and
// replicates to id at addr, with the index of its latest configuration.
func (n *Node) replicatingTo(id raft.ServerID, addr raft.ServerAddress, term uint64) (uint64, bool) {
	r, err := n.get()
	if err != nil || r.State() != raft.Leader || r.CurrentTerm() != term {
		return 0, false
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return 0, false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == id {
			return f.Index(), s.Address == addr
		}
	}
	return 0, false
}
