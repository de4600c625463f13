package agent

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/configs"
)

// leaseRaft is what the lease needs from consensus, plus the send time of
// the last lease renewal the leader answered (renew.go).
type leaseRaft interface {
	IsLeader() bool
	LastLeaderContact() time.Time
	LastRenewal() time.Time
	QuorumAck() time.Time
	TransferStarted() time.Time
}

// leaseKeeper computes this node's lease to run resources, and distrusts it
// after a stall of the agent itself (DESIGN.md invariant 7): a process that
// was frozen (SIGSTOP, a VM pause, a long GC or swap stall) may read a
// leftover heartbeat on resuming and take it for a fresh contact with the
// leader. So when the gap between two looks at the clock exceeds stallLimit,
// the lease end is frozen at what it was before the stall (and is lost if
// that has passed) until a ReadIndex through the leader, started after the
// stall, has succeeded and the local state caught up with it.
type leaseKeeper struct {
	raft   leaseRaft
	timing configs.Timing
	sync   func(ctx context.Context) error
	log    hclog.Logger
	now    func() time.Time
	// earlier, if set, is told when the lease end moved earlier than the
	// one computed before (the crash guard must hear of it at once; it
	// looks by itself only as often as a later end needs). Called with
	// the keeper locked: it must not block nor call back.
	earlier func()

	mu        sync.Mutex
	lastLook  time.Time // last time anyone computed the lease
	lastEnd   time.Time // the lease end computed then (stall-free)
	endSeen   time.Time // the lease end End returned last
	stalled   bool      // a stall was seen; waiting for re-confirmation
	frozenEnd time.Time // lease end before the stall
	stallSeq  uint64    // counts stalls, so an old confirmation cannot clear a new one
	nextTry   time.Time // next confirmation attempt after a failed one
	asLeader  time.Time // the lease end last computed as leader
	ledSince  time.Time // when this node was first seen leading (zero: not leader)
	held      bool      // the lease held at the last look (lapses are logged)
}

func newLeaseKeeper(r leaseRaft, t configs.Timing, sync func(context.Context) error, log hclog.Logger) *leaseKeeper {
	return &leaseKeeper{raft: r, timing: t, sync: sync, log: log, now: time.Now}
}

// stallLimit: a longer gap between two looks at the clock is a stall. A
// third of the lease leaves the lease itself to cover the stall's length
// before it was noticed (fast: 100 ms).
func (k *leaseKeeper) stallLimit() time.Duration { return k.timing.Lease / 3 }

// lookEvery is how often the keeper looks at the clock by itself: three
// looks to a stall limit (fast: 33 ms, lan: 333 ms), so a look two thirds
// of the limit late on a busy machine is no stall yet (a false one would
// cost a ReadIndex, not the lease). Every other reader of the lease looks
// too. An idle agent wakes for little else, so this is part of its idle
// cost: it was five looks (fast: 20 ms).
func (k *leaseKeeper) lookEvery() time.Duration { return max(k.timing.Lease/9, time.Millisecond) }

// electedGrace is how long a node just elected keeps its follower lease
// while it waits for its first quorum acknowledgement (a round trip): the
// coordinator's release margin (50 ms) covers it.
const electedGrace = 30 * time.Millisecond

// raw is the lease end from raft's view alone.
//
// A follower holds it until Lease after the earlier of its last contact with
// the leader and the send time of its last renewal a leader answered.
//
// A leader holds it until a leader lease after its quorum acknowledgement
// (consensus.QuorumAck: a majority answered a heartbeat it sent then).
// Another leader needs a vote from one of that majority: a follower votes
// only a heartbeat timeout after it last heard from us (raft refuses votes
// while it knows a leader), and we vote only after raft stepped us down, a
// heartbeat timeout after the majority last answered (consensus sets raft's
// LeaderLeaseTimeout so); a leader lease never exceeds a heartbeat timeout. So no other leader is elected before this
// lease ends, and a new leader waits a release margin more before it
// releases our groups (coordinator leaseEnd). This does not rest on raft
// stepping a cut-off leader down in time, which a starved process may not.
//
// A node just elected keeps its follower lease, for at most electedGrace,
// until the first quorum acknowledgement (a round trip): a release margin
// covers it.
//
// A leadership transfer is the exception: its target is voted in at once.
// A leader that stepped down holds a follower's lease (none until it hears
// from the new leader), except that after a transfer it started it keeps
// its leader lease for up to a leader lease from the start of the
// transfer, so that a hand-over does not drop its groups for the moment
// until the new leader's first heartbeat and renewal answer (the transfer
// itself took 27 ms on a busy lab machine). The target learns of the
// transfer after it started (consensus TakeoverRequested), and as leader
// releases our groups no earlier than a leader lease after that plus its
// release margin (coordinator leaseEnd).
func (k *leaseKeeper) raw(now time.Time) time.Time {
	if k.raft.IsLeader() {
		if k.ledSince.IsZero() {
			k.ledSince = now
		}
		var end time.Time
		if q := k.raft.QuorumAck(); !q.IsZero() {
			end = q.Add(k.timing.RaftLeaderLease)
		} else if f := k.followerEnd(); f.After(now) {
			// Just elected: its first heartbeats are on their way.
			end = f
			if g := k.ledSince.Add(electedGrace); g.Before(end) {
				end = g
			}
		}
		k.asLeader = end
		return end
	}
	k.ledSince = time.Time{}
	end := k.followerEnd()
	if t := k.raft.TransferStarted(); !t.IsZero() {
		carried := t.Add(k.timing.RaftLeaderLease)
		if k.asLeader.Before(carried) {
			carried = k.asLeader
		}
		if carried.After(end) {
			end = carried
		}
	}
	return end
}

// followerEnd: hearing the leader is not enough, the leader must hear us too
// (a renewal it answered), or with our outgoing link cut we would keep
// running what the leader has already started elsewhere.
func (k *leaseKeeper) followerEnd() time.Time {
	renewed := k.raft.LastRenewal()
	last := k.raft.LastLeaderContact()
	if last.IsZero() || renewed.IsZero() {
		return time.Time{}
	}
	if renewed.Before(last) {
		last = renewed
	}
	return last.Add(k.timing.Lease)
}

// End returns the lease end and whether the lease holds now.
func (k *leaseKeeper) End() (time.Time, bool) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if gap := now.Sub(k.lastLook); !k.lastLook.IsZero() && gap > k.stallLimit() && !k.stalled {
		k.stalled, k.frozenEnd = true, k.lastEnd
		k.stallSeq++
		k.log.Warn("agent stalled; its lease is not renewed until the leader confirms it",
			"stalled_for", gap.Round(time.Millisecond), "lease_end", k.frozenEnd.Format("15:04:05.000"))
	}
	k.lastLook = now
	end := k.raw(now)
	if k.stalled {
		if end.After(k.frozenEnd) {
			end = k.frozenEnd
		}
	} else {
		k.lastEnd = end
	}
	if end.Before(k.endSeen) && k.earlier != nil {
		k.earlier()
	}
	k.endSeen = end
	held := now.Before(end)
	if k.held && !held {
		k.logLapse(now)
	}
	k.held = held
	return end, held
}

// logLapse says why the lease just ended: what it rested on, and how old.
func (k *leaseKeeper) logLapse(now time.Time) {
	age := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Millisecond).String()
	}
	k.log.Info("lease ended", "leader", k.raft.IsLeader(), "stalled", k.stalled,
		"quorum_ack_age", age(k.raft.QuorumAck()), "leader_contact_age", age(k.raft.LastLeaderContact()),
		"renewal_age", age(k.raft.LastRenewal()))
}

// Holds reports whether the lease holds now.
func (k *leaseKeeper) Holds() bool {
	_, ok := k.End()
	return ok
}

// Run looks at the clock every lookEvery (so a stall is seen even when no
// one else asks) and re-confirms the lease after a stall.
func (k *leaseKeeper) Run(ctx context.Context) error {
	return every(ctx, k.lookEvery(), func() {
		k.End()
		k.confirm(ctx)
	})
}

// confirm re-confirms the lease through the leader if a stall froze it.
func (k *leaseKeeper) confirm(ctx context.Context) {
	k.mu.Lock()
	stalled, seq := k.stalled, k.stallSeq
	wait := k.now().Before(k.nextTry)
	k.mu.Unlock()
	if !stalled || wait {
		return
	}
	// Started after the stall was seen: the leader's answer is news.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := k.sync(cctx)
	cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.log.Debug("lease not re-confirmed yet", "error", err)
		k.nextTry = k.now().Add(50 * time.Millisecond)
		return
	}
	if k.stallSeq == seq {
		k.stalled = false
		k.lastLook = k.now() // the confirmation's own wait is no stall
		k.log.Info("lease re-confirmed through the leader after the stall")
	}
}
