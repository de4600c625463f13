package consensus

import (
	"time"

	"github.com/hashicorp/raft"
)

// A heartbeat that a short outage of the network swallowed (a switch
// reboot, a cable moved, a spanning-tree change) reaches the follower only
// at its TCP connection's next retransmission: 200 ms after it was sent,
// then 400 ms after that. raft's heartbeat goroutine waits for that one
// answer, so after a 0.25 s outage a leader could hear no follower for 0.6 s,
// longer than its leader lease (500 ms at lan): its lease lapsed, a holder
// that led dropped its addresses, and raft stepped it down. A new
// connection sends its handshake at once. So while a heartbeat is
// unanswered, the leader sends it again on a new connection every
// hedgeEvery (the transport's pool hands each call in progress a connection
// of its own) and takes the first answer; the first call still bounds how
// long raft waits when none comes. Each answer is noted with the send time
// of the copy it answered, as any other.

// hedgeEvery is how long a heartbeat goes unanswered before it is sent
// again, and then between copies: a tenth of the leader lease, so that the
// copies come often enough to find a network that is back well before the
// lease runs out, and at least 20 ms (an answer takes well under a
// millisecond on a LAN; a busy machine may take a few).
func hedgeEvery(leaderLease time.Duration) time.Duration {
	return max(leaderLease/10, 20*time.Millisecond)
}

// maxHedges bounds the copies of one heartbeat. While the network is out
// each copy's handshake waits in the kernel for its own timeout; ten cover
// an outage of a leader lease.
const maxHedges = 10

type hedgeAnswer struct {
	resp raft.AppendEntriesResponse
	err  error
}

// hedgedHeartbeat sends raft's heartbeat and, while it is unanswered, its
// copies (above). It returns the first answer, or the first call's error.
func (t *answeringTransport) hedgedHeartbeat(id raft.ServerID, target raft.ServerAddress,
	args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	answers := make(chan hedgeAnswer, maxHedges+1) // copies that answer late never block
	first := make(chan hedgeAnswer, 1)
	send := func(out chan<- hedgeAnswer) {
		var a hedgeAnswer
		sent := time.Now()
		a.err = t.Transport.AppendEntries(id, target, args, &a.resp)
		if a.err == nil && a.resp.Term == args.Term {
			t.ans.note(id, sent)
		}
		out <- a
	}
	go send(first)
	timer := time.NewTimer(t.hedgeEvery)
	defer timer.Stop()
	copies := 0
	for {
		select {
		case a := <-first:
			*resp = a.resp
			return a.err
		case a := <-answers:
			if a.err == nil {
				*resp = a.resp
				return nil
			}
		case <-timer.C:
			if copies < maxHedges {
				copies++
				go send(answers)
				timer.Reset(t.hedgeEvery)
			}
		}
	}
}
