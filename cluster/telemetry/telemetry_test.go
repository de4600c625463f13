package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/resources"
)

// store is a replicated state that the test appends to.
type store struct {
	mu     sync.Mutex
	data   *state.Data
	notify chan struct{}
}

func newStore() *store {
	return &store{data: &state.Data{}, notify: make(chan struct{})}
}

func (s *store) Read() *state.Data {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := *s.data
	d.Events = append([]state.Event(nil), s.data.Events...)
	d.Fencing = append([]state.FenceRecord(nil), s.data.Fencing...)
	return &d
}

func (s *store) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *store) add(evs []state.Event, fences ...state.FenceRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		e.Index = s.data.Index + 1
		s.data.Index = e.Index
		s.data.Events = append(s.data.Events, e)
	}
	s.data.Fencing = append(s.data.Fencing, fences...)
	close(s.notify)
	s.notify = make(chan struct{})
}

func view() api.Status {
	return api.Status{Cluster: "edge", Node: "lb2", Leader: "lb2", Term: 7, Quorum: true,
		Nodes: []api.NodeStatus{
			{Name: "lb1", State: "fenced", Heartbeat: "lost", ClusterLink: "lost"},
			{Name: "lb2", State: "online", Heartbeat: "ok", ClusterLink: "ok", Leader: true},
			{Name: "witness", State: "online", Heartbeat: "ok", ClusterLink: "unknown"},
		},
		Groups: []api.GroupStatus{{Name: "web", Node: "lb2", State: "started", Moves: 1,
			Resources: []api.ResourceStatus{{Name: "vip", Type: "ipaddr", State: "running", FailCount: 2}}}},
		Checks:   []api.CheckStatus{{Node: "lb2", Group: "web", Name: "site", State: "healthy"}, {Node: "lb1", Group: "web", Name: "site", State: "unknown"}},
		Warnings: []string{"one"},
	}
}

func scrape(t *testing.T, m *Metrics) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the official text parser rejects the output: %v\n%s", err, body)
	}
	return string(body), fams
}

// value returns the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func newMetrics(st *store, contacts ...map[string]time.Time) *Metrics {
	if len(contacts) == 0 {
		contacts = append(contacts, map[string]time.Time{})
	}
	var mu sync.Mutex
	m := New(Deps{Store: st, View: view, IsLeader: func() bool { return true },
		LeaseRemaining: func() time.Duration { return 3 * time.Second },
		Contacts: func() map[string]time.Time {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]time.Time{}
			for k, v := range contacts[0] {
				out[k] = v
			}
			return out
		}})
	return m
}

func TestStateGauges(t *testing.T) {
	m := newMetrics(newStore())
	_, fams := scrape(t, m)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vigil_is_leader", nil, 1},
		{"vigil_leader", map[string]string{"node": "lb2"}, 1},
		{"vigil_raft_term", nil, 7},
		{"vigil_quorum", nil, 1},
		{"vigil_lease_remaining_seconds", nil, 3},
		{"vigil_warnings", nil, 1},
		{"vigil_node_state", map[string]string{"node": "lb1", "state": "fenced"}, 1},
		{"vigil_node_state", map[string]string{"node": "lb1", "state": "online"}, 0},
		{"vigil_node_link_up", map[string]string{"node": "lb1", "link": "cluster"}, 0},
		{"vigil_node_link_up", map[string]string{"node": "lb2", "link": "heartbeat"}, 1},
		{"vigil_group_state", map[string]string{"group": "web", "state": "started"}, 1},
		{"vigil_group_location", map[string]string{"group": "web", "node": "lb2"}, 1},
		{"vigil_group_moves_total", map[string]string{"group": "web"}, 1},
		{"vigil_resource_failures", map[string]string{"resource": "vip"}, 2},
		{"vigil_health_check_healthy", map[string]string{"node": "lb2", "check": "site"}, 1},
	}
	for _, c := range checks {
		got, ok := value(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Unknown is no evidence either way: no series.
	if _, ok := value(t, fams, "vigil_node_link_up", map[string]string{"node": "witness", "link": "cluster"}); ok {
		t.Error("an unknown link has a series")
	}
	if _, ok := value(t, fams, "vigil_health_check_healthy", map[string]string{"node": "lb1"}); ok {
		t.Error("an unknown check has a series")
	}
}

func TestFailoversAndFencingFromHistory(t *testing.T) {
	st := newStore()
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// History from before the agent started is not counted again.
	st.add([]state.Event{
		{Time: at(-5000), Kind: "group-started", Node: "lb2", Group: "web"},
		{Time: at(-4000), Kind: "group-started", Node: "lb1", Group: "web"},
	}, state.FenceRecord{Time: at(-4500), Target: "lb2", Device: "bmc", OK: true})
	// lb1 was watched (it led) until it was lost; last heard at -800 ms.
	m := newMetrics(st, map[string]time.Time{"lb1": at(-800)})
	m.d.Now = func() time.Time { return at(-1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Follow(ctx) }()

	st.add([]state.Event{{Time: at(0), Kind: "node-failed", Node: "lb1"}})
	st.add([]state.Event{
		{Time: at(700), Kind: "fence", Node: "lb1"},
		{Time: at(710), Kind: "node-fenced", Node: "lb1"},
		{Time: at(720), Kind: "group-released", Node: "lb1", Group: "web"},
		{Time: at(730), Kind: "assign", Node: "lb2", Group: "web"},
		{Time: at(900), Kind: "group-started", Node: "lb2", Group: "web"},
	}, state.FenceRecord{Time: at(700), Target: "lb1", Device: "bmc", OK: true, Duration: 600 * time.Millisecond})

	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, fams = scrape(t, m)
		// The counter and the phase durations are recorded one after the
		// other: wait for the last phase too.
		v, _ := value(t, fams, "vigil_failovers_total", map[string]string{"group": "web", "cause": "node-failed"})
		n, _ := value(t, fams, "vigil_failover_phase_duration_seconds", map[string]string{"phase": "start"})
		if v == 1 && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := scrape(t, m)
			t.Fatalf("failover not counted:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ph := range []string{"detect", "decide", "fence", "start"} {
		if n, ok := value(t, fams, "vigil_failover_phase_duration_seconds", map[string]string{"phase": ph}); !ok || n != 1 {
			t.Errorf("phase %s observed %v times", ph, n)
		}
	}
	if n, _ := value(t, fams, "vigil_failover_phase_duration_seconds", map[string]string{"phase": "stop"}); n != 0 {
		t.Errorf("a crash has no stop phase, observed %v", n)
	}
	if v, _ := value(t, fams, "vigil_fence_attempts_total", map[string]string{"target": "lb1", "device": "bmc", "result": "ok"}); v != 1 {
		t.Errorf("fence attempts %v", v)
	}
	if v, _ := value(t, fams, "vigil_fence_attempts_total", map[string]string{"target": "lb2"}); v != 0 {
		t.Errorf("the fence from before start was counted: %v", v)
	}
	if n, _ := value(t, fams, "vigil_failovers_total", map[string]string{"group": "web", "cause": "other"}); n != 0 {
		t.Errorf("the failover from before start was counted: %v", n)
	}
	f := m.Failovers()
	if len(f) != 2 || f[1].Phases[0].Name != "detect" || f[1].Phases[0].Duration() != 800*time.Millisecond {
		t.Errorf("failovers for the status page: %+v", f)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type fakeAgent struct{ fail bool }

func (a fakeAgent) Start(context.Context) error {
	if a.fail {
		return errors.New("boom")
	}
	return nil
}
func (a fakeAgent) Stop(context.Context) error { return nil }
func (a fakeAgent) Monitor(context.Context) (resources.State, error) {
	if a.fail {
		return resources.Failed, nil
	}
	return resources.Running, nil
}

type refreshing struct{ fakeAgent }

func (refreshing) Refresh(context.Context) error  { return nil }
func (refreshing) RefreshInterval() time.Duration { return time.Second }

type announcing struct{ refreshing }

func (announcing) Announce(context.Context) error { return nil }
func (announcing) Close() error                   { return nil }

type unknownAbility struct{ fakeAgent }

func (unknownAbility) Frobnicate() {}

func TestResourceOperationsAreTimed(t *testing.T) {
	m := newMetrics(newStore())
	reg := m.Resources(resources.Registry{
		"bad": func(resources.Spec) (resources.Agent, error) { return fakeAgent{fail: true}, nil },
		"ip":  func(resources.Spec) (resources.Agent, error) { return refreshing{}, nil },
	})
	bad, _ := reg.New("bad", resources.Spec{Group: "web", Name: "app"})
	ip, _ := reg.New("ip", resources.Spec{Group: "web", Name: "vip"})
	ctx := context.Background()
	_ = bad.Start(ctx)
	_, _ = bad.Monitor(ctx)
	_ = ip.Start(ctx)
	if _, ok := ip.(refresher); !ok {
		t.Error("the wrapper hides the agent's Refresh from the executor")
	}
	if _, ok := bad.(refresher); ok {
		t.Error("the wrapper adds a Refresh the agent does not have")
	}
	reg2 := m.Resources(resources.Registry{
		"both":  func(resources.Spec) (resources.Agent, error) { return announcing{}, nil },
		"other": func(resources.Spec) (resources.Agent, error) { return unknownAbility{}, nil },
	})
	both, _ := reg2.New("both", resources.Spec{Group: "web", Name: "vip2"})
	if _, ok := both.(refresher); !ok {
		t.Error("refresh hidden")
	}
	if an, ok := both.(announcer); !ok {
		t.Error("announce hidden")
	} else {
		_ = an.Announce(ctx)
	}
	if _, ok := both.(timedBoth); !ok {
		t.Errorf("an agent with Refresh, Announce and Close is not timed: %T", both)
	}
	other, _ := reg2.New("other", resources.Spec{})
	if _, ok := other.(unknownAbility); !ok {
		t.Errorf("an agent with an unknown ability was wrapped (%T): the executor could not find it", other)
	}
	_, fams := scrape(t, m)
	if v, _ := value(t, fams, "vigil_resource_operation_failures_total", map[string]string{"resource": "app", "op": "start"}); v != 1 {
		t.Errorf("start failures %v", v)
	}
	if v, _ := value(t, fams, "vigil_resource_operation_failures_total", map[string]string{"resource": "app", "op": "monitor"}); v != 1 {
		t.Errorf("monitor failures %v", v)
	}
	if v, _ := value(t, fams, "vigil_resource_operation_duration_seconds", map[string]string{"resource": "vip", "op": "start", "type": "ip"}); v != 1 {
		t.Errorf("vip starts timed %v", v)
	}
	if v, _ := value(t, fams, "vigil_resource_operation_duration_seconds", map[string]string{"resource": "vip2", "op": "announce"}); v != 1 {
		t.Errorf("announce timed %v", v)
	}
}

// promtool (Debian's prometheus package) lints names, units and help texts.
func TestPromtoolAcceptsTheOutput(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	m := newMetrics(newStore())
	m.AlertRan("pager", "ok", time.Second)
	m.ObserveCommit(time.Millisecond)
	body, _ := scrape(t, m)
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// A node this node stopped watching (it was leader, then not) has no known
// last contact: its failover gets no detect phase rather than a wrong one.
func TestDetectNeedsWatchingUpToTheVerdict(t *testing.T) {
	t0 := time.Now()
	now := t0
	watch := map[string]time.Time{"lb1": t0}
	m := New(Deps{Store: newStore(), View: view, IsLeader: func() bool { return false },
		Contacts: func() map[string]time.Time { return watch }, Now: func() time.Time { return now }})
	m.sample()
	watch = map[string]time.Time{} // lb1 no longer watched
	now = t0.Add(5 * time.Second)
	m.sample()
	ev := []state.Event{{Index: 1, Kind: "node-failed", Node: "lb1", Time: now}}
	m.noteVerdicts(ev, 0)
	if _, ok := m.contact("lb1", now); ok {
		t.Error("a stale contact became the start of detect")
	}
	// Watched through: the last contact counts.
	watch = map[string]time.Time{"lb1": now.Add(-time.Second)}
	m.sample()
	now = now.Add(50 * time.Millisecond)
	m.sample()
	ev = append(ev, state.Event{Index: 2, Kind: "node-offline", Node: "lb1", Time: now})
	m.noteVerdicts(ev, 1)
	if at, ok := m.contact("lb1", now); !ok || !at.Equal(now.Add(-1050*time.Millisecond)) {
		t.Errorf("contact %v %v", at, ok)
	}
}
