package consensus

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// answers records, per peer, when it last answered an AppendEntries call
// (heartbeats included). Raft reports heartbeat failures and their end but
// never a first success, so without this a peer that has not answered a new
// leader yet looks the same as one that has: PeerContact needs the
// difference to call such a link unknown rather than up.
type answers struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (a *answers) note(id raft.ServerID, at time.Time) {
	a.mu.Lock()
	if a.last == nil {
		a.last = map[string]time.Time{}
	}
	a.last[string(id)] = at
	a.mu.Unlock()
}

func (a *answers) at(id string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last[id]
}

// answeringTransport wraps a raft transport to feed answers. It keeps the
// optional abilities raft looks for (pre-vote, close).
type answeringTransport struct {
	raft.Transport
	ans *answers
}

func (t *answeringTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress,
	args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.Transport.AppendEntries(id, target, args, resp)
	if err == nil {
		t.ans.note(id, time.Now())
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

// withAnswers wraps trans so that successful AppendEntries calls are noted.
func withAnswers(trans raft.Transport, ans *answers) raft.Transport {
	t := &answeringTransport{Transport: trans, ans: ans}
	if pv, ok := trans.(raft.WithPreVote); ok {
		return answeringPreVote{answeringTransport: t, pv: pv}
	}
	return t
}
