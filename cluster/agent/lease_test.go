package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/configs"
)

type fakeLeaseRaft struct {
	leader   bool
	contact  time.Time
	renewal  *time.Time // nil: renewed whenever heard (contact)
	ack      time.Time  // leader: quorum acknowledgement
	transfer time.Time  // when this node started a leadership transfer
}

func (f *fakeLeaseRaft) TransferStarted() time.Time { return f.transfer }

func (f *fakeLeaseRaft) QuorumAck() time.Time {
	if !f.leader {
		return time.Time{}
	}
	return f.ack
}

func (f *fakeLeaseRaft) IsLeader() bool               { return f.leader }
func (f *fakeLeaseRaft) LastLeaderContact() time.Time { return f.contact }
func (f *fakeLeaseRaft) LastRenewal() time.Time {
	if f.renewal != nil {
		return *f.renewal
	}
	return f.contact
}

// A follower that hears the leader but whose renewals the leader no longer
// answers (its outgoing link cut) keeps its lease only until its last
// answered renewal + lease; one that never renewed holds none.
func TestFollowerLeaseNeedsAnsweredRenewals(t *testing.T) {
	tm, _ := configs.TimingPreset("fast")
	now := time.Unix(1000, 0)
	renewed := now.Add(-tm.Lease / 2)
	r := &fakeLeaseRaft{contact: now, renewal: &renewed}
	k := newLeaseKeeper(r, tm, nil, hclog.NewNullLogger())
	k.now = func() time.Time { return now }
	if end, ok := k.End(); !ok || !end.Equal(renewed.Add(tm.Lease)) {
		t.Fatalf("lease end %v %v, want %v from the renewal", end, ok, renewed.Add(tm.Lease))
	}
	now = renewed.Add(tm.Lease)
	r.contact = now // still hearing the leader
	if _, ok := k.End(); ok {
		t.Fatal("lease held past the last answered renewal + lease while only hearing the leader")
	}
	var never time.Time
	k2 := newLeaseKeeper(&fakeLeaseRaft{contact: now, renewal: &never}, tm, nil, hclog.NewNullLogger())
	k2.now = func() time.Time { return now }
	if _, ok := k2.End(); ok {
		t.Fatal("lease held without any answered renewal")
	}
}

// After a stall longer than the lease, a heartbeat read on resuming is no
// renewal: the lease is lost until a ReadIndex started after the stall
// succeeds (issue 10 item 2).
func TestLeaseAfterStallNeedsTheLeader(t *testing.T) {
	tm, _ := configs.TimingPreset("fast")
	now := time.Unix(1000, 0)
	r := &fakeLeaseRaft{contact: now}
	syncErr := errors.New("no leader")
	k := newLeaseKeeper(r, tm, func(context.Context) error { return syncErr }, hclog.NewNullLogger())
	k.now = func() time.Time { return now }

	if end, ok := k.End(); !ok || !end.Equal(now.Add(tm.Lease)) {
		t.Fatalf("fresh contact: lease end %v ok %v, want %v", end, ok, now.Add(tm.Lease))
	}
	// Frozen for 5 s; on resuming, raft reads a leftover heartbeat.
	now = now.Add(5 * time.Second)
	r.contact = now
	end, ok := k.End()
	if ok {
		t.Fatalf("lease holds right after a 5 s stall (end %v)", end)
	}
	if want := time.Unix(1000, 0).Add(tm.Lease); !end.Equal(want) {
		t.Errorf("lease end after the stall %v, want the one before it %v", end, want)
	}
	k.confirm(context.Background())      // the leader cannot be reached
	now = now.Add(60 * time.Millisecond) // past the retry pause
	r.contact = now
	if _, ok := k.End(); ok {
		t.Fatal("lease holds without confirmation through the leader")
	}
	syncErr = nil
	k.confirm(context.Background())
	if end, ok := k.End(); !ok || !end.Equal(now.Add(tm.Lease)) {
		t.Errorf("after confirmation: lease end %v ok %v", end, ok)
	}
}

// A stall shorter than the lease but over the limit freezes the lease end
// (it does not drop the lease) until confirmed; a leader is covered too.
func TestShortStallFreezesTheLeaseEnd(t *testing.T) {
	tm, _ := configs.TimingPreset("fast")
	now := time.Unix(1000, 0)
	r := &fakeLeaseRaft{leader: true, ack: now}
	k := newLeaseKeeper(r, tm, func(context.Context) error { return errors.New("slow") }, hclog.NewNullLogger())
	k.now = func() time.Time { return now }
	before, _ := k.End()
	now = now.Add(max(tm.RaftLeaderLease, k.stallLimit()) + time.Millisecond)
	r.ack = now // a heartbeat answered right after the stall is no renewal
	if _, ok := k.End(); ok {
		t.Fatal("leader lease still held after a stall longer than its lease")
	}
	if end, _ := k.End(); !end.Equal(before) {
		t.Errorf("lease end moved from %v to %v during an unconfirmed stall", before, end)
	}
	// Below the limit: no stall.
	r2 := &fakeLeaseRaft{leader: true}
	k2 := newLeaseKeeper(r2, tm, nil, hclog.NewNullLogger())
	now2 := time.Unix(0, 0)
	k2.now = func() time.Time { return now2 }
	r2.ack = now2
	k2.End()
	now2 = now2.Add(tm.Lease / 4)
	r2.ack = now2
	if end, ok := k2.End(); !ok || !end.Equal(now2.Add(tm.RaftLeaderLease)) {
		t.Errorf("no stall: end %v ok %v", end, ok)
	}
}

// A leader's lease rests on its quorum's acknowledgements, not on raft
// still calling it leader: a starved leader that raft has not stepped down
// yet loses it a leader lease after a majority last answered it. A node
// just elected keeps its follower lease until the first acknowledgement,
// for electedGrace at most.
func TestLeaderLeaseNeedsQuorumAcks(t *testing.T) {
	tm, _ := configs.TimingPreset("fast")
	now := time.Unix(1000, 0)
	var never time.Time
	r := &fakeLeaseRaft{leader: true, ack: now.Add(-tm.RaftLeaderLease - time.Millisecond), renewal: &never}
	k := newLeaseKeeper(r, tm, nil, hclog.NewNullLogger())
	k.now = func() time.Time { return now }
	if _, ok := k.End(); ok {
		t.Fatal("leader lease held with no quorum acknowledgement within a leader lease")
	}
	renewed := now.Add(-100 * time.Millisecond)
	r2 := &fakeLeaseRaft{leader: true, contact: renewed, renewal: &renewed}
	k2 := newLeaseKeeper(r2, tm, nil, hclog.NewNullLogger())
	k2.now = func() time.Time { return now }
	if end, ok := k2.End(); !ok || !end.Equal(now.Add(electedGrace)) {
		t.Fatalf("just elected: end %v ok %v, want %v (follower lease, capped)", end, ok, now.Add(electedGrace))
	}
	now = now.Add(electedGrace)
	if _, ok := k2.End(); ok {
		t.Fatal("just elected: lease held past electedGrace without a quorum acknowledgement")
	}
	r2.ack = now
	if end, ok := k2.End(); !ok || !end.Equal(now.Add(tm.RaftLeaderLease)) {
		t.Errorf("first acknowledgement: end %v ok %v", end, ok)
	}
}

// A leader that hands leadership over keeps its lease for a leader lease
// from the start of the transfer, never longer than it held it as leader,
// and then holds only a follower's lease; a leader stepped down without a
// transfer holds only a follower's lease at once.
func TestLeaseAcrossStepDown(t *testing.T) {
	tm, _ := configs.TimingPreset("fast")
	now := time.Unix(1000, 0)
	r, k := leaderKeeper(tm, &now)
	k.End()

	// Deposed (no transfer): nothing until a new leader is heard.
	r.leader = false
	now = now.Add(5 * time.Millisecond)
	if end, ok := k.End(); ok {
		t.Fatalf("deposed leader still holds its lease (end %v)", end)
	}

	// A transfer: held until its start + a leader lease, here the same as
	// the leader lease of its last acknowledgement.
	r.leader, r.ack = true, now
	k.End()
	r.transfer = now.Add(10 * time.Millisecond)
	r.leader = false
	now = r.transfer.Add(tm.RaftLeaderLease - 20*time.Millisecond)
	if end, ok := k.End(); !ok || !end.Equal(r.ack.Add(tm.RaftLeaderLease)) {
		t.Fatalf("after a transfer: end %v ok %v, want %v (the leader lease it held)", end, ok, r.ack.Add(tm.RaftLeaderLease))
	}
	// Acknowledged after the transfer started: the transfer's start bounds it.
	r.leader, r.ack = true, r.transfer.Add(5*time.Millisecond)
	k.End()
	r.leader = false
	if end, ok := k.End(); !ok || !end.Equal(r.transfer.Add(tm.RaftLeaderLease)) {
		t.Fatalf("after a transfer: end %v ok %v, want %v", end, ok, r.transfer.Add(tm.RaftLeaderLease))
	}
	now = r.transfer.Add(tm.RaftLeaderLease)
	if _, ok := k.End(); ok {
		t.Fatal("lease held past a leader lease from the transfer without hearing the new leader")
	}
	// The new leader answered a renewal: a follower's lease.
	renewed := now
	r.contact, r.renewal = now, &renewed
	if end, ok := k.End(); !ok || !end.Equal(now.Add(tm.Lease)) {
		t.Errorf("after the new leader's answer: end %v ok %v", end, ok)
	}
}

// TestRenewalPeriodByPreset: a lease that can carry a holder through the
// election after the leader's death (lan, wan) is renewed every eighth; the
// fast preset's cannot, and keeps a quarter (renewEvery). A witness, which
// runs nothing, renews every half lease.
func TestRenewalPeriodByPreset(t *testing.T) {
	for name, want := range map[string]time.Duration{
		"fast": 75 * time.Millisecond, "lan": 375 * time.Millisecond, "wan": 1250 * time.Millisecond,
	} {
		tm, _ := configs.TimingPreset(name)
		if got := renewEvery(tm.Lease, tm.RaftHeartbeatTimeout, false); got != want {
			t.Errorf("%s: renewal every %v, want %v", name, got, want)
		}
		if got := renewEvery(tm.Lease, tm.RaftHeartbeatTimeout, true); got != tm.Lease/2 {
			t.Errorf("%s: a witness renews every %v, want %v", name, got, tm.Lease/2)
		}
	}
}

// The guard is looked at a fifth of a leader lease: each preset keeps
// three looks of margin well inside its leader lease.
func TestGuardEveryPerPreset(t *testing.T) {
	for preset, want := range map[string]time.Duration{"fast": 20 * time.Millisecond, "lan": 100 * time.Millisecond, "wan": 300 * time.Millisecond} {
		tm, _ := configs.TimingPreset(preset)
		if got := guardEvery(tm); got != want {
			t.Errorf("%s: guardEvery %v, want %v", preset, got, want)
		}
	}
}

// TestEarlierLeaseEndIsTold: the crash guard looks by itself only as often
// as a later lease end needs, so an end that moved earlier (here a deposed
// leader's) is told at once, and a later one is not.
func TestEarlierLeaseEndIsTold(t *testing.T) {
	tm, _ := configs.TimingPreset("lan")
	now := time.Unix(1000, 0)
	r, k := leaderKeeper(tm, &now)
	told := 0
	k.earlier = func() { told++ }
	k.End()
	now = now.Add(10 * time.Millisecond)
	r.ack = now
	k.End()
	if told != 0 {
		t.Fatalf("a later end was told (%d)", told)
	}
	r.leader = false
	k.End()
	if told != 1 {
		t.Fatalf("a deposed leader's earlier end was told %d times, want 1", told)
	}
	k.End()
	if told != 1 {
		t.Fatalf("an unchanged end was told again (%d)", told)
	}
}

// leaderKeeper is a lease keeper of a leader whose quorum acknowledged it
// at *now, with its clock at *now.
func leaderKeeper(tm configs.Timing, now *time.Time) (*fakeLeaseRaft, *leaseKeeper) {
	var never time.Time
	r := &fakeLeaseRaft{leader: true, ack: *now, renewal: &never}
	k := newLeaseKeeper(r, tm, nil, hclog.NewNullLogger())
	k.now = func() time.Time { return *now }
	return r, k
}
