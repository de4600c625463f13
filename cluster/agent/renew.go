package agent

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// renewals are the lease renewals by round trip (cluster/rpc/lease.go): on a
// follower, when it sent the last renewal the leader answered; on the
// leader, when each follower's last renewal arrived. A follower holds its
// lease only while both its last contact from the leader and its last
// answered renewal are within the lease; the leader counts a follower as in
// contact until its last renewal arrived, at least.
type renewals struct {
	mu   sync.Mutex
	sent time.Time
	seen map[string]time.Time
}

func (r *renewals) confirmed(sent time.Time) {
	r.mu.Lock()
	if sent.After(r.sent) {
		r.sent = sent
	}
	r.mu.Unlock()
}

func (r *renewals) lastSent() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent
}

// renewed answers a follower's renewal (rpc.ServerDeps.Renewed): only while
// this node leads and holds its leader lease, noting the arrival first.
func (a *Agent) renewed(peer string, at time.Time) bool {
	if !a.raft.IsLeader() || !a.keeper.Holds() {
		return false
	}
	a.renew.received(peer, at)
	return true
}

func (r *renewals) received(peer string, at time.Time) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]time.Time{}
	}
	if at.After(r.seen[peer]) {
		r.seen[peer] = at
	}
	r.mu.Unlock()
}

func (r *renewals) lastReceived(peer string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[peer]
}

// renewLease renews this follower's lease with the leader every eighth of
// the lease (renewEvery), so that one lost or slow renewal does not end it,
// and at once when a new leader appears. Until the current leader has
// answered one (a new leader, or this node just handed leadership over) it
// retries every renewRetry: a node's lease after an election rests on its
// first renewal with the new leader. A leader renews nothing: its lease
// rests on its quorum acknowledgements (lease.go).
func (a *Agent) renewLease(ctx context.Context) error {
	lease := a.cfg.Cluster.Timing.Lease
	every := renewEvery(lease, a.cfg.Cluster.Timing.RaftHeartbeatTimeout, a.cfg.Local().Witness)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.raft.LeaderChanged():
		}
		t.Reset(jittered(every))
		id, _ := a.raft.Leader()
		if a.raft.IsLeader() || id == "" {
			if id == "" || time.Since(a.raft.TransferStarted()) < time.Second {
				t.Reset(renewRetry) // a leader may appear (or take over) any moment
			}
			continue
		}
		sent := time.Now()
		err := a.renewOnce(ctx, lease/2)
		if err != nil {
			a.log.Debug("lease renewal not answered", "error", err)
			t.Reset(min(every, renewRetry))
			continue
		}
		a.renew.confirmed(sent)
	}
}

// renewOnce sends one renewal to the current leader, giving up after
// timeout or as soon as the leadership changes: a renewal in flight to a
// leader that just died would otherwise hold up the first renewal with its
// successor for the whole timeout (1.5 s at lan), and the lease can run
// out meanwhile (BenchmarkLeaderLossHolderGap).
func (a *Agent) renewOnce(ctx context.Context, timeout time.Duration) error {
	// Under the leader's context, taken before the call reads the leader:
	// a change from then on ends the call. The agent stopping ends it too.
	// Neither costs a goroutine per renewal (a fifth of a follower's
	// renewal wake-ups, when one watched each call).
	cctx, cancel := context.WithTimeout(a.raft.LeaderContext(), timeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	return a.applier.RenewLease(cctx)
}

// renewEvery is the renewal period. When the leader dies, a holder keeps
// its groups only if the new leader answers its renewal before the lease of
// its last one ends: raft's followers give up on a leader up to three
// heartbeat timeouts after its last heartbeat (a timer of 1-2 timeouts,
// acting after one timeout of silence), and the one whose timer fires first
// is refused votes until the other's fires too. A lease of 3.5 heartbeat
// timeouts or more (lan, wan) covers that when the last renewal is at most
// 5/32 of a lease old: every eighth of a lease. A shorter one (fast, 3) does
// not whatever the period: renewing that often made a holder lapse in 3 of
// 20 leader deaths instead of 6, but cost 15 ms of median failover time (a
// younger last renewal), so it keeps a quarter (BenchmarkLeaderLossHolderGap,
// BenchmarkFailoverDowntime).
//
// A witness runs nothing: its lease only says in its status (and to systemd)
// that it is in touch with the leader, so it renews every half lease, which
// still holds it while the leader answers (75-125 %, then an answer within
// the renewal's timeout of half a lease). Its renewals were a fifth of an
// idle witness's wake-ups.
func renewEvery(lease, heartbeat time.Duration, witness bool) time.Duration {
	if witness {
		return lease / 2
	}
	if lease*2 >= heartbeat*7 {
		return lease / 8
	}
	return lease / 4
}

// jittered spreads renewals over 75-125 % of the period, as raft spreads its
// heartbeats: followers do not renew in lockstep, and a failure does not
// always find the last renewal at the same age.
func jittered(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2)
}

// renewRetry is the renewal interval until the current leader has answered.
const renewRetry = 10 * time.Millisecond

// leaseSource is the lease keeper's view of this node: raft, plus the
// renewals.
type leaseSource struct {
	leaseRaftOnly
	r *renewals
}

// leaseRaftOnly is the part of consensus the lease reads.
type leaseRaftOnly interface {
	IsLeader() bool
	LastLeaderContact() time.Time
	QuorumAck() time.Time
	TransferStarted() time.Time
}

func (s leaseSource) LastRenewal() time.Time { return s.r.lastSent() }
