package configs

import (
	"strings"
	"testing"
	"time"
)

func TestTimingPresetsMatchDocumentedValues(t *testing.T) {
	ms := time.Millisecond
	want := map[string]Timing{
		"fast": {"fast", 200 * ms, 100 * ms, 2, 200 * ms, 100 * ms, 100 * ms, 100 * ms, time.Second, 250 * ms, 300 * ms},
		"lan":  {"lan", time.Second, 500 * ms, 4, time.Second, 750 * ms, 750 * ms, 500 * ms, time.Second, 2 * time.Second, 3 * time.Second},
		"wan":  {"wan", 2 * time.Second, time.Second, 5, 2 * time.Second, 2500 * ms, 2500 * ms, 1500 * ms, time.Second, 5 * time.Second, 10 * time.Second},
	}
	for name, w := range want {
		got, ok := TimingPreset(name)
		if !ok || got != w {
			t.Errorf("TimingPreset(%q) = %+v, %v; want %+v", name, got, ok, w)
		}
		r := &reporter{}
		validateTiming(r, got)
		if len(r.diags) != 0 {
			t.Errorf("preset %s fails its own validation: %v", name, r.diags)
		}
	}
	if _, ok := TimingPreset("ludicrous"); ok {
		t.Error("unknown preset accepted")
	}
}

func TestTuningOverridesEveryField(t *testing.T) {
	tuning := `    probe_interval         = "3s"
    probe_timeout          = "2s"
    suspicion_mult         = 6
    gossip_interval        = "700ms"
    raft_heartbeat_timeout = "4s"
    raft_election_timeout  = "5s"
    raft_leader_lease      = "2s"
    raft_commit_timeout    = "60ms"
    raft_transport_timeout = "6s"
    lease                  = "12s"
`
	text := applyEdits(t, validConfig, []edit{
		{`timing          = "fast"`, `timing          = "wan"`},
		{"    probe_interval = \"300ms\"\n    suspicion_mult = 3\n", tuning},
	})
	c, err := loadBuiltin(setup(t, text))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Timing{"wan", 3 * time.Second, 2 * time.Second, 6, 700 * time.Millisecond, 4 * time.Second, 5 * time.Second,
		2 * time.Second, 60 * time.Millisecond, 6 * time.Second, 12 * time.Second}
	if c.Cluster.Timing != want {
		t.Errorf("timing = %+v, want %+v", c.Cluster.Timing, want)
	}
}

func TestTimingConstraintsWithoutOverridesPointAtPreset(t *testing.T) {
	// A Config built in code has no positions: keys name the tuning field.
	tm, _ := TimingPreset("lan")
	tm.Lease = 100 * time.Millisecond
	tm.ProbeTimeout = 2 * time.Second
	tm.SuspicionMult = 0
	r := &reporter{}
	validateTiming(r, tm)
	got := r.diags.Error()
	for _, w := range []string{
		"cluster.tuning.lease: lease (100ms) must be at least raft_leader_lease (500ms)",
		"cluster.tuning.probe_timeout: probe_timeout (2s) must not exceed probe_interval (1s)",
		"cluster.tuning.suspicion_mult: suspicion_mult (0) must be at least 1",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}
