package placement

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func cfg(groups ...configs.Group) *configs.Config {
	return &configs.Config{
		Nodes:  []configs.Node{{Name: "lb1"}, {Name: "lb2"}, {Name: "w", Witness: true}},
		Groups: groups,
	}
}

func data(nodes map[string]string, groups ...*state.Group) *state.Data {
	d := &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}}
	for n, st := range nodes {
		standby := strings.HasSuffix(st, "+standby")
		d.Nodes[n] = &state.Node{Name: n, Status: strings.TrimSuffix(st, "+standby"), Standby: standby}
	}
	for _, g := range groups {
		d.Groups[g.Name] = g
	}
	return d
}

func plan(c *configs.Config, d *state.Data, f Facts) ([]Action, []Decision) {
	return Plan(Input{Data: d, Config: c, Facts: f, Now: now})
}

func TestPlacesOnPreferredNeverWitness(t *testing.T) {
	c := cfg(configs.Group{Name: "web", Prefer: "lb2"})
	acts, _ := plan(c, data(map[string]string{"lb1": "online", "lb2": "online", "w": "online"}), Facts{})
	if len(acts) != 1 || acts[0].Node != "lb2" {
		t.Fatalf("acts = %+v", acts)
	}
	c = cfg(configs.Group{Name: "web"})
	acts, why := plan(c, data(map[string]string{"lb1": "offline", "lb2": "failed", "w": "online"}), Facts{})
	if len(acts) != 0 || len(why) != 1 || !strings.Contains(why[0].Reason, "no eligible node") {
		t.Fatalf("witness only: acts=%+v why=%+v", acts, why)
	}
}

func TestStandbyStopsThenPlacesElsewhere(t *testing.T) {
	c := cfg(configs.Group{Name: "web", Prefer: "lb1"})
	g := &state.Group{Name: "web", Node: "lb1", Holder: "lb1", State: state.GroupStarted}
	acts, _ := plan(c, data(map[string]string{"lb1": "online+standby", "lb2": "online"}, g), Facts{})
	if len(acts) != 1 || acts[0].Node != "" {
		t.Fatalf("standby: want a stop, got %+v", acts)
	}
	// While lb1 still holds it, nothing is placed.
	g = &state.Group{Name: "web", Holder: "lb1", State: state.GroupStopping}
	acts, why := plan(c, data(map[string]string{"lb1": "online+standby", "lb2": "online"}, g), Facts{})
	if len(acts) != 0 || !strings.Contains(why[0].Reason, "waiting for lb1") {
		t.Fatalf("held: acts=%+v why=%+v", acts, why)
	}
	g = &state.Group{Name: "web", State: state.GroupStopped}
	acts, _ = plan(c, data(map[string]string{"lb1": "online+standby", "lb2": "online"}, g), Facts{})
	if len(acts) != 1 || acts[0].Node != "lb2" {
		t.Fatalf("released: %+v", acts)
	}
}

func TestFailbackAndStickiness(t *testing.T) {
	g := func() *state.Group {
		return &state.Group{Name: "web", Node: "lb2", Holder: "lb2", State: state.GroupStarted}
	}
	nodes := map[string]string{"lb1": "online", "lb2": "online"}
	if acts, _ := plan(cfg(configs.Group{Name: "web", Prefer: "lb1"}), data(nodes, g()), Facts{}); len(acts) != 0 {
		t.Fatalf("failback=false moved: %+v", acts)
	}
	acts, _ := plan(cfg(configs.Group{Name: "web", Prefer: "lb1", Failback: true}), data(nodes, g()), Facts{})
	if len(acts) != 1 || acts[0].Node != "" {
		t.Fatalf("failback=true: %+v", acts)
	}
	pinned := g()
	pinned.MovedTo = "lb1"
	if acts, _ := plan(cfg(configs.Group{Name: "web"}), data(nodes, pinned), Facts{}); len(acts) != 1 {
		t.Fatalf("operator move ignored: %+v", acts)
	}
}

func TestMigrationThreshold(t *testing.T) {
	g := &state.Group{Name: "web", Node: "lb1", Holder: "lb1", State: state.GroupFailed,
		Resources: map[string]*state.Resource{"haproxy": {FailCount: map[string]int{"lb1": 3}}}}
	c := cfg(configs.Group{Name: "web", MigrationThreshold: 3})
	acts, _ := plan(c, data(map[string]string{"lb1": "online", "lb2": "online"}, g), Facts{})
	if len(acts) != 1 || acts[0].Node != "" || !strings.Contains(acts[0].Reason, "migration_threshold") {
		t.Fatalf("acts = %+v", acts)
	}
}

func TestHealthMovesAreRateLimitedAndNeedAHealthyPeer(t *testing.T) {
	c := cfg(configs.Group{Name: "web", MinMoveInterval: time.Minute})
	nodes := map[string]string{"lb1": "online", "lb2": "online"}
	sick := Facts{Healthy: map[string]map[string]bool{"lb1": {"web": false}}}
	bothSick := Facts{Healthy: map[string]map[string]bool{"lb1": {"web": false}, "lb2": {"web": false}}}
	g := func(last time.Time) *state.Group {
		return &state.Group{Name: "web", Node: "lb1", Holder: "lb1", State: state.GroupStarted, LastHealthMove: last}
	}
	acts, _ := plan(c, data(nodes, g(now.Add(-2*time.Minute))), sick)
	if len(acts) != 1 || !acts[0].Health {
		t.Fatalf("health move: %+v", acts)
	}
	acts, why := plan(c, data(nodes, g(now.Add(-10*time.Second))), sick)
	if len(acts) != 0 || !strings.Contains(why[0].Reason, "min_move_interval") {
		t.Fatalf("rate limit: acts=%+v why=%+v", acts, why)
	}
	acts, why = plan(c, data(nodes, g(now.Add(-2*time.Minute))), bothSick)
	if len(acts) != 0 || !strings.Contains(why[0].Reason, "no healthy node") {
		t.Fatalf("both sick: acts=%+v why=%+v", acts, why)
	}
}

func TestOrderAndColocation(t *testing.T) {
	c := cfg(configs.Group{Name: "db"}, configs.Group{Name: "web"})
	c.Orders = []configs.Order{{First: "db", Then: "web"}}
	c.Colocations = []configs.Colocation{{Group: "web", With: "db"}}
	nodes := map[string]string{"lb1": "online", "lb2": "online"}
	acts, _ := plan(c, data(nodes), Facts{})
	if len(acts) != 1 || acts[0].Group != "db" {
		t.Fatalf("order: %+v", acts)
	}
	db := &state.Group{Name: "db", Node: "lb2", Holder: "lb2", State: state.GroupStarted}
	acts, _ = plan(c, data(nodes, db), Facts{})
	if len(acts) != 1 || acts[0].Group != "web" || acts[0].Node != "lb2" {
		t.Fatalf("colocation: %+v", acts)
	}
}

func TestMaintenanceLeavesEverythingAlone(t *testing.T) {
	c := cfg(configs.Group{Name: "web"})
	d := data(map[string]string{"lb1": "online+standby", "lb2": "online"},
		&state.Group{Name: "web", Node: "lb1", Holder: "lb1"})
	d.Maintenance = true
	if acts, _ := plan(c, d, Facts{}); len(acts) != 0 {
		t.Fatalf("maintenance: %+v", acts)
	}
}
