package coordinator

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

func pairBase(now time.Time) PairFacts {
	return PairFacts{Now: now, SelfVoter: true, PeerVoter: true, Lease: time.Second,
		Peer: &membership.Member{Name: "n2", State: membership.StateDead, Since: now.Add(-time.Second)}}
}

func TestDecidePair(t *testing.T) {
	now := time.Unix(1000, 0)
	alive := &membership.Member{Name: "n2", State: membership.StateAlive}
	cases := []struct {
		name  string
		edit  func(f *PairFacts)
		armed bool
		want  PairStep
	}{
		{"lost on both links, armed", func(*PairFacts) {}, true, PairRace},
		{"lost on both links, never saw the pair working (wait_for_all)", func(*PairFacts) {}, false, PairIdle},
		{"peer never seen on the heartbeat link, armed", func(f *PairFacts) { f.Peer = nil }, true, PairRace},
		{"heartbeat link still up", func(f *PairFacts) { f.Peer = alive }, true, PairIdle},
		{"suspect is not dead", func(f *PairFacts) { f.Peer.State = membership.StateSuspect }, true, PairIdle},
		{"leader heard within the lease", func(f *PairFacts) {
			f.LeaderIsPeer, f.LeaderContact = true, now.Add(-500*time.Millisecond)
		}, true, PairIdle},
		{"leader contact older than the lease", func(f *PairFacts) {
			f.LeaderIsPeer, f.LeaderContact = true, now.Add(-2*time.Second)
		}, true, PairRace},
		{"still leading", func(f *PairFacts) { f.Leader = true }, true, PairIdle},
		{"peer not a voter", func(f *PairFacts) { f.PeerVoter = false }, true, PairIdle},
		{"self not a voter", func(f *PairFacts) { f.SelfVoter = false }, true, PairIdle},
		{"peer left less than a lease ago", func(f *PairFacts) {
			f.Peer.State, f.Peer.Since = membership.StateLeft, now.Add(-500*time.Millisecond)
		}, true, PairIdle},
		{"peer left a lease ago", func(f *PairFacts) {
			f.Peer.State, f.Peer.Since = membership.StateLeft, now.Add(-time.Second)
		}, true, PairLeft},
		{"alone, leading, peer back", func(f *PairFacts) {
			f.Alone, f.PeerVoter, f.Leader, f.Peer = true, false, true, alive
		}, false, PairReadd},
		{"alone, leading, peer still shutting down cleanly", func(f *PairFacts) {
			f.Alone, f.PeerVoter, f.Leader, f.Peer, f.PeerLeaving = true, false, true, alive, true
		}, false, PairIdle},
		{"alone, peer still dead", func(f *PairFacts) { f.Alone, f.PeerVoter, f.Leader = true, false, true }, true, PairIdle},
		{"alone, not leading yet", func(f *PairFacts) { f.Alone, f.PeerVoter, f.Peer = true, false, alive }, true, PairIdle},
	}
	for _, c := range cases {
		f := pairBase(now)
		c.edit(&f)
		if got := DecidePair(f, c.armed); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestPairWorkingNeedsFreshEvidence(t *testing.T) {
	now := time.Unix(1000, 0)
	f := pairBase(now)
	if f.Working() {
		t.Error("working without any contact")
	}
	f.LeaderIsPeer, f.LeaderContact = true, now.Add(-100*time.Millisecond)
	if !f.Working() {
		t.Error("follower with fresh contact from the peer as leader is not working")
	}
	f.LeaderContact = now.Add(-2 * time.Second)
	if f.Working() {
		t.Error("stale leader contact counted as working")
	}
	f = pairBase(now)
	f.Leader = true
	if f.Working() {
		t.Error("leader whose peer never answered counted as working")
	}
	f.PeerAnswered = true
	if !f.Working() {
		t.Error("leader with an answering peer is not working")
	}
	f.Alone = true
	if f.Working() {
		t.Error("a node alone is not a working pair")
	}
}

func TestRaceDelayFavoursTheHolder(t *testing.T) {
	cfg := &configs.Config{Cluster: configs.Cluster{PriorityFenceDelay: 5 * time.Second},
		Nodes: []configs.Node{{Name: "n1", FenceDelay: time.Second, FenceDelayMax: time.Second}, {Name: "n2"}}}
	data := &state.Data{Groups: map[string]*state.Group{"web": {Name: "web", Holder: "n1"}}}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		// n2 fencing the holder n1: n1's static + random delay, plus the priority.
		if d := RaceDelay(cfg, data, "n2", "n1", rnd); d < 6*time.Second || d >= 7*time.Second {
			t.Fatalf("delay to fence the holder %s, want [6s, 7s)", d)
		}
		// The holder fencing n2: n2's own delays only (none).
		if d := RaceDelay(cfg, data, "n1", "n2", rnd); d != 0 {
			t.Fatalf("holder's delay %s, want 0", d)
		}
	}
	data.Groups["db"] = &state.Group{Name: "db", Holder: "n2"}
	if d := RaceDelay(cfg, data, "n2", "n1", rnd); d >= 2*time.Second {
		t.Errorf("both hold a group: delay %s, want no priority", d)
	}
}
