package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/health"
)

// countingCheck passes and counts its runs.
type countingCheck struct{ runs atomic.Int32 }

func (c *countingCheck) Run(context.Context) health.Result {
	c.runs.Add(1)
	return health.Result{OK: true, At: time.Now()}
}

// A reload replaces the checks that changed and keeps the others running
// with their state: an unchanged healthy check stays healthy throughout.
func TestCheckSetReplacesOnlyChangedChecks(t *testing.T) {
	var mu sync.Mutex
	built := map[string]*countingCheck{}
	build := func(c configs.Check) (*health.Runner, error) {
		if c.Type != "fake" {
			return nil, errors.New("unknown check type")
		}
		chk := &countingCheck{}
		mu.Lock()
		built[c.Name+c.Params["v"]] = chk
		mu.Unlock()
		return health.NewRunner(health.RunnerConfig{Checks: []health.Named{{Name: c.Name, Group: c.Group, Check: chk,
			Interval: 10 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}}})
	}
	get := func(k string) *countingCheck { mu.Lock(); defer mu.Unlock(); return built[k] }
	chk := func(name, v string) configs.Check {
		return configs.Check{Type: "fake", Name: name, Group: "web", Params: map[string]string{"v": v}}
	}
	s := newCheckSet()
	items, err := s.prepare([]configs.Check{chk("site", "1"), chk("port", "1")}, build)
	if err != nil {
		t.Fatal(err)
	}
	s.replace(items)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	healthy := func(name string) bool {
		for _, st := range s.Snapshot() {
			if st.Name == name {
				return st.State == "healthy"
			}
		}
		return false
	}
	waitUntil(t, "both healthy", func() bool { return healthy("site") && healthy("port") })

	// A bad new check changes nothing.
	if _, err := s.prepare([]configs.Check{chk("site", "1"), {Type: "nosuch", Name: "x"}}, build); err == nil {
		t.Fatal("an unknown check type was accepted")
	}
	items, err = s.prepare([]configs.Check{chk("site", "1"), chk("port", "2"), chk("dns", "1")}, build)
	if err != nil {
		t.Fatal(err)
	}
	if started, stopped := s.replace(items); started != 2 || stopped != 1 {
		t.Errorf("started %d, stopped %d; want 2 (port v2, dns), 1 (port v1)", started, stopped)
	}
	if !healthy("site") {
		t.Error("the unchanged check lost its state")
	}
	old := get("port1")
	waitUntil(t, "the new checks run", func() bool { return get("port2").runs.Load() > 0 && get("dns1").runs.Load() > 0 })
	n := old.runs.Load()
	time.Sleep(50 * time.Millisecond)
	if old.runs.Load() > n+1 { // at most one run in flight when it was stopped
		t.Error("the replaced check still runs")
	}
	if got := len(s.Snapshot()); got != 3 {
		t.Errorf("%d checks in the snapshot, want 3", got)
	}
}

// Rebuilt fence devices are the ones the next fence and the monitor use.
func TestFencerReplaceUsesNewDevices(t *testing.T) {
	devs := map[string]*countingFencer{}
	reg := fencing.Registry{"fake": func(d fencing.Device) (fencing.Fencer, error) {
		f := &countingFencer{}
		devs[d.Name+"@"+d.Params["host"]] = f
		return f, nil
	}}
	cfg := func(host string) *configs.Config {
		return &configs.Config{NodeName: "n2",
			Nodes: []configs.Node{{Name: "n1", Fence: []configs.FenceLevel{{Devices: []string{"n1-bmc"}}}}, {Name: "n2"}},
			Fences: []configs.Fence{{Type: "fake", Name: "n1-bmc", Params: map[string]string{"host": host},
				Timeout: time.Second, MonitorInterval: time.Hour}}}
	}
	f, err := newFencer(cfg("a"), reg, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.monitor(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the first device checked", func() bool { return devs["n1-bmc@a"].calls.Load() == 1 })
	n, err := newFencer(cfg("b"), reg, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	f.replace(n)
	// The monitor checks the new device at once (its interval is an hour).
	waitUntil(t, "the rebuilt device checked", func() bool { return devs["n1-bmc@b"].calls.Load() == 1 })
	st := f.Statuses()
	if len(st) != 1 || st[0].State != "ok" {
		t.Errorf("statuses %+v", st)
	}
	// The fake never reads off, so the fence fails; what matters is which
	// device it powered off.
	_, _ = fencing.Fence(ctx, f.levelsOf("n1"), hclog.NewNullLogger())
	if devs["n1-bmc@b"].offs.Load() != 1 || devs["n1-bmc@a"].offs.Load() != 0 {
		t.Errorf("fence used the old device: old %d, new %d power-offs", devs["n1-bmc@a"].offs.Load(), devs["n1-bmc@b"].offs.Load())
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
