package consensus

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// answers records, per peer, when this node sent the last AppendEntries
// call (heartbeats included) that the peer answered in the same term. Raft reports heartbeat failures and their end but
// never a first success, so without this a peer that has not answered a new
// leader yet looks the same as one that has: PeerContact needs the
// difference to call such a link unknown rather than up.
type answers struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// note keeps the latest send time answered: a copy of a heartbeat
// (hedge.go) may be answered after a later one was.
func (a *answers) note(id raft.ServerID, at time.Time) {
	a.mu.Lock()
	if a.last == nil {
		a.last = map[string]time.Time{}
	}
	if at.After(a.last[string(id)]) {
		a.last[string(id)] = at
	}
	a.mu.Unlock()
}

func (a *answers) at(id string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last[id]
}

// answeringTransport wraps a raft transport to feed answers, and hands raft
// the inbound requests through forward, which notes takeover requests
// (transfer.go). It keeps the optional abilities raft looks for (pre-vote,
// close).
type answeringTransport struct {
	raft.Transport
	ans   *answers
	taken func(from string) // a TimeoutNow arrived from this node
	rpcs  chan raft.RPC
	wait  *peerWait // nil: an append that cannot connect fails at once
	hb    heartbeatGate
	// hedgeEvery: an unanswered heartbeat is sent again on a new
	// connection this often (hedge.go); 0: never.
	hedgeEvery time.Duration
}

// heartbeatGate: raft's network transport runs the heartbeat handler on its
// connection goroutines, not raft's own, so raft.Shutdown does not wait for
// one in progress, and the transport's Close does not either. A heartbeat
// that arrived just before the shutdown could then write the term to a
// store Run had already closed, and raft panics on that ("failed to save
// current term: database not open", seen once in CI). Run closes the gate
// after raft.Shutdown: it waits for a heartbeat in progress and refuses the
// rest.
type heartbeatGate struct {
	mu     sync.RWMutex
	closed bool
}

func (g *heartbeatGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// SetHeartbeatHandler hands the transport raft's handler behind the gate.
func (t *answeringTransport) SetHeartbeatHandler(fn func(raft.RPC)) {
	if fn == nil {
		t.Transport.SetHeartbeatHandler(nil)
		return
	}
	t.Transport.SetHeartbeatHandler(func(rpc raft.RPC) {
		t.hb.mu.RLock()
		defer t.hb.mu.RUnlock()
		if t.hb.closed {
			rpc.Respond(nil, raft.ErrTransportShutdown)
			return
		}
		fn(rpc)
	})
}

func (t *answeringTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress,
	args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if t.hedgeEvery > 0 && heartbeat(args) {
		return t.hedgedHeartbeat(id, target, args, resp)
	}
	// Noted at the send: an answer proves the peer heard us at or after
	// this instant. Only an answer in our own term acknowledges us.
	var sent time.Time
	err := t.wait.appendEntries(id, target, args, func() error {
		sent = time.Now()
		return t.Transport.AppendEntries(id, target, args, resp)
	})
	if err == nil && resp.Term == args.Term {
		t.ans.note(id, sent)
	}
	return err
}

func (t *answeringTransport) Close() error {
	if c, ok := t.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

type answeringPreVote struct {
	*answeringTransport
	pv raft.WithPreVote
}

func (t answeringPreVote) RequestPreVote(id raft.ServerID, target raft.ServerAddress,
	args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.pv.RequestPreVote(id, target, args, resp)
}

// withAnswers wraps trans so that successful AppendEntries calls are noted
// in ans, appends wait for an unreachable peer as wait says (peerwait.go),
// unanswered heartbeats are sent again every hedge (hedge.go; 0: never),
// and takeover requests are reported to taken. Raft reads its requests
// only once the returned forward runs; closeGate must run after raft shut
// down and before its stores close.
func withAnswers(trans raft.Transport, ans *answers, taken func(string), wait *peerWait, hedge time.Duration) (_ raft.Transport, forward func(context.Context), closeGate func()) {
	t := &answeringTransport{Transport: trans, ans: ans, taken: taken, rpcs: make(chan raft.RPC), wait: wait, hedgeEvery: hedge}
	if pv, ok := trans.(raft.WithPreVote); ok {
		return answeringPreVote{answeringTransport: t, pv: pv}, t.forward, t.hb.close
	}
	return t, t.forward, t.hb.close
}

// Consumer is the stream of inbound requests raft serves (forward's).
func (t *answeringTransport) Consumer() <-chan raft.RPC { return t.rpcs }

// forward passes inbound requests on to raft until ctx ends, noting each
// TimeoutNow: the leader told this node to stand for election at once.
func (t *answeringTransport) forward(ctx context.Context) {
	in := t.Transport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case <-ctx.Done():
			return
		case rpc = <-in:
		}
		if req, ok := rpc.Command.(*raft.TimeoutNowRequest); ok {
			t.taken(string(req.ID))
		}
		select {
		case t.rpcs <- rpc:
		case <-ctx.Done():
			return // raft is shut down: the caller times out, as it would have
		}
	}
}

// QuorumAck is, on the leader, the latest instant T such that a majority of
// the voters (this node counted at now) answered an AppendEntries this node
// sent at or after T; zero on a follower. A majority that heard from us at T
// grants no vote to anyone before T + heartbeat timeout (a follower votes
// only after its own heartbeat timeout), so no other leader can exist before
// then: the leader's lease to run resources ends there (DESIGN.md, Leases),
// whether or not raft's own step-down runs on time on a starved machine.
func (n *Node) QuorumAck() time.Time {
	r, err := n.get()
	if err != nil || r.State() != raft.Leader {
		return time.Time{}
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return time.Time{}
	}
	var voters []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters = append(voters, string(s.ID))
		}
	}
	return quorumTime(time.Now(), n.cfg.NodeID, voters, n.answers.at)
}

// quorumTime is the majority-th latest of the voters' acknowledgement times,
// self counting as now; zero when no majority ever answered.
func quorumTime(now time.Time, self string, voters []string, at func(string) time.Time) time.Time {
	if len(voters) == 0 {
		return time.Time{}
	}
	times := make([]time.Time, 0, len(voters))
	for _, v := range voters {
		if v == self {
			times = append(times, now)
		} else {
			times = append(times, at(v))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].After(times[j]) })
	return times[len(voters)/2]
}
