package agent

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// startCounter counts resource starts by group/node.
type startCounter struct {
	mu sync.Mutex
	n  map[string]int
}

type countedAgent struct {
	resources.Agent
	c   *startCounter
	key string
}

func (a countedAgent) Start(ctx context.Context) error {
	a.c.mu.Lock()
	a.c.n[a.key]++
	a.c.mu.Unlock()
	return a.Agent.Start(ctx)
}

func (c *startCounter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Reload on every node of the in-memory cluster: a changed resource of web
// is restarted in place on n1 (web never runs on two nodes: the harness
// checks it every millisecond), an added group starts, a removed group stops
// and leaves every node's state.
func TestHarnessReloadGroups(t *testing.T) {
	starts := &startCounter{n: map[string]int{}}
	var next sync.Map // node -> *configs.Config the next Load returns
	var cfgs sync.Map // node -> *configs.Config the agent started with
	// lan timing: the fast preset loses leases of its own on a loaded
	// machine, and this test counts starts.
	lan, _ := configs.TimingPreset("lan")
	h := newHarnessOf(t, []string{"n1", "n2", "w"}, func(_ *harness, node string, cfg *configs.Config, d *Deps) {
		cfg.Cluster.Timing = lan
		cfgs.Store(node, cfg)
		mem := d.Resources["mem"]
		d.Resources["mem"] = func(s resources.Spec) (resources.Agent, error) {
			a, err := mem(s)
			return countedAgent{Agent: a, c: starts, key: s.Group + "/" + s.Node}, err
		}
		d.Load = func() (*configs.Config, error) {
			c, _ := next.Load(node)
			return c.(*configs.Config), nil
		}
	})
	h.settleOn("n1")
	before := starts.get("web/n1")
	// edit builds every node's next file from the one it started with.
	reloadAll := func(edit func(*configs.Config)) {
		t.Helper()
		for _, n := range h.names {
			c, _ := cfgs.Load(n)
			cp := *c.(*configs.Config)
			cp.Groups = slices.Clone(cp.Groups)
			edit(&cp)
			next.Store(n, &cp)
		}
		for _, n := range h.names {
			if _, err := h.agents[n].Reload(); err != nil {
				t.Fatalf("reload on %s: %v", n, err)
			}
		}
	}
	changed := func(c *configs.Config) {
		web := c.Groups[0]
		web.Resources = slices.Clone(web.Resources)
		web.Resources[0].Params = map[string]string{"v": "2"}
		c.Groups[0] = web
	}
	api := configs.Group{Name: "api", Resources: []configs.Resource{{Type: "mem", Name: "api-svc",
		StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second, MonitorInterval: 100 * time.Millisecond}}}

	reloadAll(changed)
	h.waitFor("web restarted on n1", 10*time.Second, func() bool {
		return starts.get("web/n1") == before+1 && h.startedOn("n1")
	})
	reloadAll(func(c *configs.Config) { changed(c); c.Groups = append(c.Groups, api) })
	h.waitFor("api started once", 10*time.Second, func() bool {
		on := h.held.on("api")
		return len(on) == 1 && h.agents[on[0]].fsm.Read().Groups["api"].State == "started"
	})
	reloadAll(changed)
	h.waitFor("api stopped and dropped everywhere", 10*time.Second, func() bool {
		if len(h.held.on("api")) != 0 {
			return false
		}
		for _, n := range h.names {
			if h.agents[n].fsm.Read().Groups["api"] != nil {
				return false
			}
		}
		return true
	})
	if n := starts.get("web/n1"); n != before+1 || !h.startedOn("n1") {
		t.Errorf("web started %d times on n1 since it settled, want 1 (the restart), and still there", n-before)
	}
	h.check()
}
