package lab

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Settings the benches read from the environment, so that a timing preset
// can be tried without editing code:
//
//	VIGIL_BENCH_RUNS=10                  runs per scenario (failover benches)
//	VIGIL_BENCH_PRESET=fast              timing preset of the vigil clusters
//	VIGIL_BENCH_TUNING='lease=500ms,suspicion_mult=3'
//	                                     cluster.tuning overrides (key=value, comma-separated)
//
// The soak (soak_bench_test.go) has its own VIGIL_SOAK_* twins.

// runsFromEnv is the positive integer in env, or def when unset.
func runsFromEnv(tb testing.TB, env string, def int) int {
	tb.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive number of runs", env, v)
	}
	return n
}

// benchTiming is the timing preset and tuning overrides named by
// <prefix>_PRESET (default fast) and <prefix>_TUNING, validated, as a
// label for the tables ("fast", "fast+lease=500ms") and the HCL lines
// that go inside the cluster block.
func benchTiming(tb testing.TB, prefix string) (preset, label, clusterHCL string) {
	tb.Helper()
	preset = strings.TrimSpace(os.Getenv(prefix + "_PRESET"))
	if preset == "" {
		preset = "fast"
	}
	if !namePattern.MatchString(preset) {
		tb.Fatalf("%s_PRESET=%q: want a preset name such as fast, lan or wan", prefix, preset)
	}
	raw := os.Getenv(prefix + "_TUNING")
	hcl, err := tuningHCL(raw)
	if err != nil {
		tb.Fatalf("%s_TUNING=%q: %v", prefix, raw, err)
	}
	label = preset
	if strings.TrimSpace(raw) != "" {
		label += " + " + strings.Join(strings.Fields(strings.ReplaceAll(raw, ",", " ")), ",")
	}
	return preset, label, hcl
}

var tuningKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// tuningHCL renders "key=value,key=value" as a `tuning { ... }` block for
// the cluster block. Integers stay numbers (suspicion_mult), everything
// else is a quoted string (durations). Whether a key exists and a value is
// sound is the agent's config loader's business: the bench runs
// `vigil config validate` before starting the agents.
func tuningHCL(spec string) (string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "", nil
	}
	var b strings.Builder
	b.WriteString("  tuning {\n")
	var seen []string
	for _, kv := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' }) {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || v == "":
			return "", fmt.Errorf("%q: want key=value", kv)
		case !tuningKey.MatchString(k):
			return "", fmt.Errorf("%q: not a tuning key", k)
		case slices.Contains(seen, k):
			return "", fmt.Errorf("%q given twice", k)
		case strings.ContainsAny(v, "\"\\${}\n"):
			return "", fmt.Errorf("%s: value %q has characters a duration or number never has", k, v)
		}
		seen = append(seen, k)
		if _, err := strconv.Atoi(v); err == nil {
			fmt.Fprintf(&b, "    %s = %s\n", k, v)
		} else {
			fmt.Fprintf(&b, "    %s = %q\n", k, v)
		}
	}
	b.WriteString("  }\n")
	return b.String(), nil
}

// validateConfigs runs `vigil config validate` on every node's config, so
// that a bad preset or tuning override fails at once with the loader's
// message instead of as an agent that never becomes healthy.
func validateConfigs(tb testing.TB, c *Cluster) {
	tb.Helper()
	for _, n := range c.Nodes {
		if out, err := n.Host.Run(c.Bin, "config", "validate", n.Config); err != nil {
			tb.Fatalf("config of %s (preset %q, tuning from the environment) is refused: %v\n%s", n.Name, c.Spec.Preset, err, out)
		}
	}
}

// loadAvg is /proc/loadavg's first three fields ("1.02 0.87 0.65").
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// durStats is a sorted set of durations.
type durStats []time.Duration

func sortedDurs(ds []time.Duration) durStats { return slices.Sorted(slices.Values(ds)) }

// cell is "min / median / max s", or "-" without samples.
func (s durStats) cell() string {
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f / %.3f / %.3f s", s[0].Seconds(), s[len(s)/2].Seconds(), s[len(s)-1].Seconds())
}

func (s durStats) median() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func (s durStats) max() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// TestTuningHCL checks the rendering of VIGIL_*_TUNING and its refusals.
func TestTuningHCL(t *testing.T) {
	got, err := tuningHCL(" lease=500ms, suspicion_mult=3 ")
	want := "  tuning {\n    lease = \"500ms\"\n    suspicion_mult = 3\n  }\n"
	if err != nil || got != want {
		t.Fatalf("tuningHCL = %q, %v; want %q", got, err, want)
	}
	if got, err := tuningHCL(""); got != "" || err != nil {
		t.Fatalf("empty spec: %q, %v", got, err)
	}
	for _, bad := range []string{"lease", "lease=", "Lease=1s", "lease=1s,lease=2s", `lease=1s"}`} {
		if _, err := tuningHCL(bad); err == nil {
			t.Errorf("tuningHCL(%q) accepted", bad)
		}
	}
}

// TestWarningKind checks that the soak counts one kind of warning once.
func TestWarningKind(t *testing.T) {
	for in, want := range map[string]string{
		`vigil.memberlist: memberlist: Was able to connect to n2 over TCP but UDP probes failed`:                                           "vigil.memberlist: memberlist: Was able to connect to n2 over TCP but UDP probes failed",
		`vigil.executor: resource failed: group=web resource=vip reason="monitor: stopped"`:                                                "vigil.executor: resource failed",
		`vigil.memberlist: memberlist: Failed fallback TCP ping: timeout 200ms: read tcp 198.18.1.13:57089->198.18.1.11:7301: i/o timeout`: "vigil.memberlist: memberlist: Failed fallback TCP ping: timeout Nms: read tcp N.N.N.N:N->N.N.N.N:N: i/o timeout",
	} {
		if got := warningKind(in); got != want {
			t.Errorf("warningKind(%q) = %q, want %q", in, got, want)
		}
	}
}
