package alerts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

type store struct {
	mu     sync.Mutex
	data   *state.Data
	notify chan struct{}
}

func newStore() *store { return &store{data: &state.Data{}, notify: make(chan struct{})} }

func (s *store) Read() *state.Data {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := *s.data
	d.Events = append([]state.Event(nil), s.data.Events...)
	return &d
}

func (s *store) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *store) add(evs ...state.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.data.Index++
		e.Index = s.data.Index
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		s.data.Events = append(s.data.Events, e)
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

type recorder struct {
	mu      sync.Mutex
	runs    map[string]int
	dropped int
}

func (r *recorder) AlertRan(alert, result string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[alert+"/"+result]++
}

func (r *recorder) AlertDropped(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped++
}

func (r *recorder) get(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[k]
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func start(t *testing.T, d Deps) (cancel func()) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = New(d).Run(ctx); close(done) }()
	return func() { stop(); <-done }
}

func TestHooksGetEventsInOrderWithTheirEnvironment(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	hook := script(t, `echo "$VIGIL_ALERT_SEQUENCE|$VIGIL_ALERT_KIND|$VIGIL_ALERT_EVENT|$VIGIL_ALERT_NODE|$VIGIL_ALERT_GROUP|$VIGIL_ALERT_RESULT|$VIGIL_ALERT_RECIPIENT|$VIGIL_ALERT_CLUSTER|$VIGIL_ALERT_LOCAL_NODE|$VIGIL_ALERT_MESSAGE|$SECRET" >> `+log+"\n")
	st := newStore()
	st.add(state.Event{Kind: "node-online", Node: "lb1", Message: "old news", Time: time.Now().Add(-time.Hour)})
	rec := &recorder{runs: map[string]int{}}
	var leader atomic.Bool
	t.Setenv("SECRET", "agent-env-must-not-leak")
	stop := start(t, Deps{
		Alerts: []configs.Alert{{Name: "log", Exec: hook, Timeout: 5 * time.Second, Recipient: "ops@example.org",
			Events: []string{"node", "group", "fence", "leader"}}},
		Store: st, IsLeader: leader.Load, Term: func() uint64 { return 4 }, Cluster: "edge", Node: "lb2",
		LastLeaderContact: func() time.Time { return time.Now() }, Recorder: rec,
	})
	defer stop()
	// A follower announces nothing.
	st.add(state.Event{Kind: "node-failed", Node: "lb1", Message: "while following"})
	time.Sleep(3 * pollEvery)
	leader.Store(true)
	waitFor(t, "leader event", func() bool { return rec.get("log/ok") == 1 })
	st.add(
		state.Event{Kind: "node-fenced", Node: "lb1", Message: "node lb1 failed -> fenced"},
		state.Event{Kind: "fence", Node: "lb1", Message: "fencing lb1 with bmc (x) failed: timeout"},
		state.Event{Kind: "resource-failed", Node: "lb2", Group: "web", Message: "not subscribed"},
		state.Event{Kind: "group-started", Node: "lb2", Group: "web", Message: "group web started on lb2"},
	)
	waitFor(t, "4 hook runs", func() bool { return rec.get("log/ok") == 4 })
	b, _ := os.ReadFile(log)
	want := []string{
		"0|leader|leader|lb2|||ops@example.org|edge|lb2|node lb2 became the cluster leader (term 4)|",
		"3|node|node-fenced|lb1||fenced|ops@example.org|edge|lb2|node lb1 failed -> fenced|",
		"4|fence|fence|lb1||failed|ops@example.org|edge|lb2|fencing lb1 with bmc (x) failed: timeout|",
		"6|group|group-started|lb2|web|started|ops@example.org|edge|lb2|group web started on lb2|",
	}
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hook saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlowFailingAndHungHooksNeverHoldUpTheCluster(t *testing.T) {
	st := newStore()
	rec := &recorder{runs: map[string]int{}}
	pids := filepath.Join(t.TempDir(), "pids")
	hung := script(t, "sleep 30 &\necho $! >> "+pids+"\nsleep 30\n")
	failing := script(t, "echo oops >&2\nexit 3\n")
	alerts := []configs.Alert{
		{Name: "hung", Exec: hung, Timeout: 300 * time.Millisecond, Events: []string{"node"}},
		{Name: "failing", Exec: failing, Timeout: 5 * time.Second, Events: []string{"node"}},
	}
	stop := start(t, Deps{Alerts: alerts, Store: st, IsLeader: func() bool { return true }, Node: "lb1", Recorder: rec})
	time.Sleep(2 * pollEvery) // leadership noticed; what follows is new
	begin := time.Now()
	for i := 0; i < queueLen+50; i++ {
		st.add(state.Event{Kind: "node-offline", Node: "lb2", Message: "x"})
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("committing events took %v with hung hooks", took)
	}
	waitFor(t, "the hung hook killed twice", func() bool { return rec.get("hung/timeout") >= 2 })
	waitFor(t, "drops counted", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.dropped > 0
	})
	// The hook's own children went with it (its process group was killed).
	b, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(b))[:1] {
		waitFor(t, "child "+f+" killed", func() bool {
			_, err := os.Stat("/proc/" + f)
			return err != nil
		})
	}
	waitFor(t, "failing hook counted", func() bool { return rec.get("failing/failed") >= 10 })
	stop()
}
