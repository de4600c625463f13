package configs

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// TimingPreset returns the named preset (fast, lan or wan).
//
// A follower that holds groups keeps its lease through the leader's death
// only if the new leader answers it before the lease of its last renewal
// ends. hashicorp/raft's follower gives up on a silent leader at the first
// tick of a timer of 1-2 heartbeat timeouts after one timeout of silence,
// so up to three heartbeat timeouts after its last heartbeat: lan and wan
// keep lease >= 3.5 heartbeat timeouts (BenchmarkLeaderLossHolderGap). fast
// does not (300 ms for 100 ms): its failover time wins, and an election
// that outlasts a holder's lease drops the holder's addresses for a moment.
//
// fast suits a dedicated LAN or crossover link between idle machines
// (dead-node detection well under a second); lan is the default and
// tolerates a loaded switch and VM pauses; wan is for links across sites.
//
// memberlist's news (a join, a suspicion and its refutation, a death, new
// metadata) rides on every probe, ping and ack it sends, and vigil pings
// every member each probe interval that memberlist's prober did not reach:
// every peer gets a packet at least that often. So its gossip tick, which
// only sends news it still has, runs once a probe interval; four times as
// often it woke an idle agent four times for nothing (a tenth of an idle
// lan follower's wake-ups, 15 a second at fast).
func TimingPreset(name string) (Timing, bool) {
	ms := time.Millisecond
	switch name {
	case "fast":
		return Timing{
			Preset:        "fast",
			ProbeInterval: 200 * ms, ProbeTimeout: 100 * ms, SuspicionMult: 2, GossipInterval: 200 * ms,
			RaftHeartbeatTimeout: 100 * ms, RaftElectionTimeout: 100 * ms, RaftLeaderLease: 100 * ms,
			RaftCommitTimeout: time.Second, RaftTransportTimeout: 250 * ms,
			Lease: 300 * ms,
		}, true
	case "lan":
		return Timing{
			Preset:        "lan",
			ProbeInterval: time.Second, ProbeTimeout: 500 * ms, SuspicionMult: 4, GossipInterval: time.Second,
			RaftHeartbeatTimeout: 750 * ms, RaftElectionTimeout: 750 * ms, RaftLeaderLease: 500 * ms,
			RaftCommitTimeout: time.Second, RaftTransportTimeout: 2 * time.Second,
			Lease: 3 * time.Second,
		}, true
	case "wan":
		return Timing{
			Preset:        "wan",
			ProbeInterval: 2 * time.Second, ProbeTimeout: time.Second, SuspicionMult: 5, GossipInterval: 2 * time.Second,
			RaftHeartbeatTimeout: 2500 * ms, RaftElectionTimeout: 2500 * ms, RaftLeaderLease: 1500 * ms,
			RaftCommitTimeout: time.Second, RaftTransportTimeout: 5 * time.Second,
			Lease: 10 * time.Second,
		}, true
	}
	return Timing{}, false
}

func timingPresetNames() []string { return []string{"fast", "lan", "wan"} }

// tuningFields maps each `tuning` key to its Timing field. SuspicionMult is
// the only integer; everything else is a duration.
func tuningFields(t *Timing) map[string]any {
	return map[string]any{
		"probe_interval":         &t.ProbeInterval,
		"probe_timeout":          &t.ProbeTimeout,
		"suspicion_mult":         &t.SuspicionMult,
		"gossip_interval":        &t.GossipInterval,
		"raft_heartbeat_timeout": &t.RaftHeartbeatTimeout,
		"raft_election_timeout":  &t.RaftElectionTimeout,
		"raft_leader_lease":      &t.RaftLeaderLease,
		"raft_commit_timeout":    &t.RaftCommitTimeout,
		"raft_transport_timeout": &t.RaftTransportTimeout,
		"lease":                  &t.Lease,
	}
}

func tuningKeys() []string {
	keys := make([]string, 0, 10)
	for k := range tuningFields(&Timing{}) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// raftMinTimeout is hashicorp/raft's floor for every timeout (ValidateConfig).
const raftMinTimeout = 5 * time.Millisecond

// validateTiming checks the constraints raft and memberlist impose, plus the
// lease ordering vigil's safety argument depends on. A problem with a value
// is reported at the tuning key if it was overridden, else at cluster.timing.
func validateTiming(r *reporter, t Timing) {
	key := func(name string) string {
		k := "cluster.tuning." + name
		if _, ok := r.pos[k]; ok || r.pos == nil {
			return k
		}
		return "cluster.timing"
	}
	named := func(name string, d time.Duration) string { return fmt.Sprintf("%s (%s)", name, d) }

	for _, f := range []struct {
		name string
		d    time.Duration
		min  time.Duration
	}{
		{"probe_interval", t.ProbeInterval, time.Millisecond},
		{"probe_timeout", t.ProbeTimeout, time.Millisecond},
		{"gossip_interval", t.GossipInterval, time.Millisecond},
		{"raft_heartbeat_timeout", t.RaftHeartbeatTimeout, raftMinTimeout},
		{"raft_election_timeout", t.RaftElectionTimeout, raftMinTimeout},
		{"raft_leader_lease", t.RaftLeaderLease, raftMinTimeout},
		{"raft_commit_timeout", t.RaftCommitTimeout, raftMinTimeout},
		{"raft_transport_timeout", t.RaftTransportTimeout, raftMinTimeout},
		{"lease", t.Lease, raftMinTimeout},
	} {
		if f.d < f.min {
			r.errf(key(f.name), "%s must be at least %s", named(f.name, f.d), f.min)
		}
	}
	if t.SuspicionMult < 1 {
		r.errf(key("suspicion_mult"), "suspicion_mult (%d) must be at least 1", t.SuspicionMult)
	}
	if t.ProbeTimeout > t.ProbeInterval {
		r.errf(key("probe_timeout"), "%s must not exceed %s: a probe must finish before the next one starts",
			named("probe_timeout", t.ProbeTimeout), named("probe_interval", t.ProbeInterval))
	}
	if t.RaftLeaderLease > t.RaftHeartbeatTimeout {
		r.errf(key("raft_leader_lease"), "%s must not exceed %s (no other leader may be elected before a leader's lease ends)",
			named("raft_leader_lease", t.RaftLeaderLease), named("raft_heartbeat_timeout", t.RaftHeartbeatTimeout))
	}
	if t.RaftElectionTimeout < t.RaftHeartbeatTimeout {
		r.errf(key("raft_election_timeout"), "%s must be at least %s (raft requires election timeout >= heartbeat timeout)",
			named("raft_election_timeout", t.RaftElectionTimeout), named("raft_heartbeat_timeout", t.RaftHeartbeatTimeout))
	}
	// A leader steps down after raft_leader_lease without a quorum; followers
	// stop their resources after lease. If lease were shorter, a deposed
	// leader could still believe it leads after the others gave up on it.
	// Every holder's lease rests on its contact with the leader; when the
	// leader fails, the next is elected one to three heartbeat timeouts
	// later (raft's follower timer), and the holders renew with it. A lease
	// shorter than that drops every group whenever the leader fails.
	if t.Lease < 2*t.RaftHeartbeatTimeout {
		r.errf(key("lease"), "%s must be at least twice %s: every holder would stop its groups while a new leader is elected",
			named("lease", t.Lease), named("raft_heartbeat_timeout", t.RaftHeartbeatTimeout))
	}
	if t.Lease < t.RaftLeaderLease {
		r.errf(key("lease"), "%s must be at least %s: a deposed leader must notice before the others' lease expires",
			named("lease", t.Lease), named("raft_leader_lease", t.RaftLeaderLease))
	}
}

// presetList is for messages: "fast, lan or wan".
func presetList() string {
	n := timingPresetNames()
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}
