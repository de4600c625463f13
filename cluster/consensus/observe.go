package consensus

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// PeerLink is the leader's view of one other voter on the cluster link.
type PeerLink struct {
	OK    bool      // heartbeats are getting through
	Since time.Time // when this state began, as far as the leader knows
	// LastContact is raft's own last successful contact with the peer when
	// heartbeats started failing (the start of replication if it never
	// answered this leader); zero while OK.
	LastContact time.Time
	// Answered: the peer answered this leader at least once. Until then OK
	// only means no heartbeat has failed yet: the link is unknown.
	Answered bool
	// LastAnswer is when this leader sent the last AppendEntries (heartbeats
	// included) the peer answered in this term; zero if none. Unlike raft's
	// own last contact it is never stamped by a call that timed out.
	LastAnswer time.Time
	// failedSeen: when the failure that made OK false was observed.
	failedSeen time.Time
}

// InContact: the peer answered this leader and no heartbeat to it has
// failed since. Only that is evidence of a live link; a link never answered
// is unknown, whatever OK says.
func (l PeerLink) InContact() bool { return l.Answered && l.OK }

// peerContact tracks heartbeat failures seen by this node while leader.
type peerContact struct {
	mu          sync.Mutex
	leaderSince time.Time
	links       map[string]PeerLink // only peers whose state changed since leaderSince
	changed     context.Context     // cancelled at the next leader change (LeaderContext)
	endChanged  context.CancelFunc
	linkChanges chan struct{} // LinkChanges; made on first use
}

// LinkChanges returns a channel that receives when this node's view of its
// peers' cluster links may have changed without a new answer: a heartbeat
// failed or resumed, a server was added or removed, or the leadership
// changed. A first answer, or one after a silence, is not signalled (it
// would cost a send per heartbeat): the coordinator looks again on a tick
// while any link is not in contact.
func (n *Node) LinkChanges() <-chan struct{} {
	c := &n.contact
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changesLocked()
}

func (c *peerContact) changesLocked() chan struct{} {
	if c.linkChanges == nil {
		c.linkChanges = make(chan struct{}, 1)
	}
	return c.linkChanges
}

// signal notes a change for LinkChanges; it never blocks.
func (c *peerContact) signal() {
	c.mu.Lock()
	ch := c.changesLocked()
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

func wantObservation(o *raft.Observation) bool {
	switch o.Data.(type) {
	case raft.LeaderObservation, raft.PeerObservation,
		raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
		return true
	}
	return false
}

// observe folds raft observations into the peer contact table and the
// address-to-name book. Raft drops observations this loop is too slow for;
// that is logged, since PeerContact may then be stale until the next change.
func (n *Node) observe(ctx context.Context, ch <-chan raft.Observation, obs *raft.Observer) {
	var dropped uint64
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			n.noteObservation(o, time.Now())
		}
		if d := obs.GetNumDropped(); d != dropped {
			n.log.Warn("raft observations dropped; peer contact may be stale", "dropped_total", d)
			dropped = d
		}
	}
}

func (n *Node) noteObservation(o raft.Observation, now time.Time) {
	c := &n.contact
	defer c.signal()
	switch d := o.Data.(type) {
	case raft.LeaderObservation:
		// A new term of leadership: every peer starts out OK.
		c.mu.Lock()
		c.leaderSince = now
		c.links = map[string]PeerLink{}
		if c.endChanged != nil {
			c.endChanged()
			c.changed, c.endChanged = nil, nil
		}
		c.mu.Unlock()
	case raft.PeerObservation:
		if !d.Removed {
			n.names.set(string(d.Peer.Address), string(d.Peer.ID))
		}
	case raft.FailedHeartbeatObservation:
		c.mu.Lock()
		c.initLinks()
		if l, ok := c.links[string(d.PeerID)]; !ok || l.OK {
			since := now
			if !d.LastContact.IsZero() && d.LastContact.After(c.leaderSince) {
				since = d.LastContact
			}
			c.links[string(d.PeerID)] = PeerLink{OK: false, Since: since, LastContact: d.LastContact, failedSeen: now}
		}
		c.mu.Unlock()
	case raft.ResumedHeartbeatObservation:
		c.mu.Lock()
		c.initLinks()
		c.links[string(d.PeerID)] = PeerLink{OK: true, Since: now}
		c.mu.Unlock()
	}
}

// initLinks makes the table before its first entry: a leader's first
// observation is its LeaderObservation, which makes it, unless raft dropped
// that one (its observer does not block; a dropped one is logged), and a
// heartbeat observation must not crash the agent then. Callers hold c.mu.
func (c *peerContact) initLinks() {
	if c.links == nil {
		c.links = map[string]PeerLink{}
	}
}

// LeaderChanged returns a channel closed when this node next sees the
// leadership change (raft's LeaderObservation: a leader it heard from for
// the first time, or none).
func (n *Node) LeaderChanged() <-chan struct{} { return n.LeaderContext().Done() }

// LeaderContext is a context cancelled when this node next sees the
// leadership change: a call to the current leader made under it ends then,
// without a goroutine of its own watching for the change.
func (n *Node) LeaderContext() context.Context {
	c := &n.contact
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed, c.endChanged = context.WithCancel(context.Background())
	}
	return c.changed
}

// PeerContact is the leader's view of each other server in the raft
// configuration: a peer is OK from the start of this leadership until a
// heartbeat to it fails, and again once heartbeats resume; Answered says
// whether it ever answered this leader. It is nil on a node that is not the
// leader.
func (n *Node) PeerContact() map[string]PeerLink {
	r, err := n.get()
	if err != nil || r.State() != raft.Leader {
		return nil
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	c := &n.contact
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]PeerLink{}
	for _, s := range f.Configuration().Servers {
		id := string(s.ID)
		if id == n.cfg.NodeID {
			continue
		}
		l, ok := c.links[id]
		if !ok {
			l = PeerLink{OK: true, Since: c.leaderSince}
		}
		at := n.answers.at(id)
		if !l.OK && at.After(l.failedSeen) {
			// It answered a call sent after the failure was seen: the link
			// works again. Raft reports a resumption only from the
			// heartbeat loop that failed, and a peer removed and added
			// again gets a new loop, while the old one's last failure
			// may still arrive after that (TestReplaceWitness: the new
			// witness was offline for good).
			l = PeerLink{OK: true, Since: at}
			c.links[id] = l
		}
		if at.After(c.leaderSince) {
			l.Answered, l.LastAnswer = true, at
		}
		out[id] = l
	}
	return out
}

// pumpLeaderChanges drains raft's NotifyCh at once, whatever the reader of
// LeaderChanges does: raft blocks on a full NotifyCh (nomad#6977).
func (n *Node) pumpLeaderChanges(ctx context.Context, in <-chan bool) {
	var queue []bool
	for {
		var out chan<- bool
		var head bool
		if len(queue) > 0 {
			out, head = n.leaderCh, queue[0]
		}
		select {
		case <-ctx.Done():
			return
		case v := <-in:
			if !v {
				n.downAt.Store(time.Now().UnixNano())
			}
			queue = append(queue, v)
		case out <- head:
			queue = queue[1:]
		}
	}
}
