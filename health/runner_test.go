package health_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/health"
)

// startRunner runs r until the test ends and checks that Run returned nil.
func startRunner(t *testing.T, r *health.Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v on cancellation", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancellation")
		}
	})
}

// waitState waits on Changes until check name reaches state.
func waitState(t *testing.T, r *health.Runner, name, state string) health.Status {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		for _, s := range r.Snapshot() {
			if s.Name == name && s.State == state {
				return s
			}
		}
		select {
		case <-r.Changes():
		case <-timeout:
			t.Fatalf("check %q never reached %q; snapshot %+v", name, state, r.Snapshot())
		}
	}
}

func TestRunnerRiseFallWithHTTPServer(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()

	r, err := health.NewRunner(health.RunnerConfig{
		Checks: []health.Named{{
			Name: "site", Group: "web", Check: mustHTTP(t, map[string]string{"url": srv.URL}),
			Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 3,
		}},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Snapshot()[0]; s.State != health.StateUnknown || s.Name != "site" || s.Group != "web" || !s.Changed.IsZero() {
		t.Fatalf("before Run: %+v", s)
	}
	startRunner(t, r)

	up := waitState(t, r, "site", health.StateHealthy)
	if up.Consecutive < 2 || !up.Last.OK || up.Changed.IsZero() {
		t.Fatalf("healthy: %+v", up)
	}

	status.Store(503)
	down := waitState(t, r, "site", health.StateUnhealthy)
	if down.Consecutive < 3 || down.Last.OK || down.Last.Output != "HTTP 503 Service Unavailable" {
		t.Fatalf("unhealthy: %+v", down)
	}
	if !down.Changed.After(up.Changed) {
		t.Fatalf("Changed did not advance: %v then %v", up.Changed, down.Changed)
	}

	status.Store(200)
	back := waitState(t, r, "site", health.StateHealthy)
	if back.Consecutive < 2 || !back.Changed.After(down.Changed) {
		t.Fatalf("recovered: %+v", back)
	}
}

// countingCheck counts runs and returns ok.
type countingCheck struct {
	runs atomic.Int32
	ok   atomic.Bool
}

func (c *countingCheck) Run(ctx context.Context) health.Result {
	c.runs.Add(1)
	return health.Result{OK: c.ok.Load()}
}

func TestRunnerFirstRunImmediateThenInterval(t *testing.T) {
	slow, fast := &countingCheck{}, &countingCheck{}
	slow.ok.Store(true)
	fast.ok.Store(true)
	r, err := health.NewRunner(health.RunnerConfig{Checks: []health.Named{
		{Name: "slow", Check: slow, Interval: time.Hour, Rise: 1},
		{Name: "fast", Check: fast, Interval: 10 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	// rise=1: the hourly check is healthy after its first, immediate run.
	st := waitState(t, r, "slow", health.StateHealthy)
	if st.Last.At.IsZero() {
		t.Fatal("Runner did not stamp Result.At")
	}
	for fast.runs.Load() < 10 {
		time.Sleep(5 * time.Millisecond)
	}
	if n := slow.runs.Load(); n != 1 {
		t.Fatalf("hourly check ran %d times while the fast one ran 10", n)
	}
}

func TestRunnerTimeoutFailsCheck(t *testing.T) {
	// A real script that outlives its timeout: the Runner's deadline kills it
	// and the check goes down after fall failures.
	r, err := health.NewRunner(health.RunnerConfig{Checks: []health.Named{{
		Name: "hang", Check: mustExec(t, "sleep 30"), Interval: 10 * time.Millisecond,
		Timeout: 30 * time.Millisecond, Fall: 2,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	st := waitState(t, r, "hang", health.StateUnhealthy)
	if !strings.HasPrefix(st.Last.Output, "timeout") {
		t.Fatalf("unhealthy with output %q, want a timeout", st.Last.Output)
	}
}

func TestRunnerChangesCoalesced(t *testing.T) {
	var checks []health.Named
	for _, n := range []string{"a", "b", "c"} {
		c := &countingCheck{}
		c.ok.Store(true)
		checks = append(checks, health.Named{Name: n, Check: c, Interval: 5 * time.Millisecond, Rise: 1})
	}
	r, err := health.NewRunner(health.RunnerConfig{Checks: checks})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, s := range r.Snapshot() {
			if s.State == health.StateHealthy {
				n++
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all healthy: %+v", r.Snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Three state changes, nobody reading: exactly one pending signal, and no more after it.
	if n := len(r.Changes()); n != 1 {
		t.Fatalf("%d pending signals, want 1", n)
	}
	<-r.Changes()
	// More runs, but no state changes: wait until every check started three
	// more runs, so the results of at least two of them were recorded.
	var before []int32
	for _, c := range checks {
		before = append(before, c.Check.(*countingCheck).runs.Load())
	}
	for i, c := range checks {
		for c.Check.(*countingCheck).runs.Load() < before[i]+3 {
			if time.Now().After(deadline) {
				t.Fatalf("check %s stopped running", c.Name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	select {
	case <-r.Changes():
		t.Fatal("Changes fired without a state change")
	default:
	}
}

func TestRunnerValidationAndDefaults(t *testing.T) {
	ok := &countingCheck{}
	for _, cfg := range []health.RunnerConfig{
		{Checks: []health.Named{{Name: "", Check: ok}}},
		{Checks: []health.Named{{Name: "x"}}},
		{Checks: []health.Named{{Name: "x", Check: ok}, {Name: "x", Check: ok}}},
		{Checks: []health.Named{{Name: "x", Check: ok, Interval: -time.Second}}},
	} {
		if _, err := health.NewRunner(cfg); err == nil {
			t.Errorf("NewRunner(%+v) accepted an invalid config", cfg.Checks)
		}
	}
	// The same name in two groups is two checks.
	r, err := health.NewRunner(health.RunnerConfig{Checks: []health.Named{
		{Name: "x", Group: "a", Check: ok}, {Name: "x", Group: "b", Check: ok}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run on a cancelled context: %v", err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

// testWriter sends log lines to t.Log so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
