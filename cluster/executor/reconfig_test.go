package executor

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

func (r *rig) config() *configs.Config {
	c := *r.exec.d.Config
	c.Groups = slices.Clone(c.Groups)
	for i := range c.Groups {
		c.Groups[i].Resources = slices.Clone(c.Groups[i].Resources)
	}
	return &c
}

func (r *rig) groups() []string {
	var out []string
	for _, l := range r.exec.Local() {
		out = append(out, l.Group)
	}
	return out
}

// A reload that changes one resource's parameters restarts it (and what
// follows it in the group) in place; the resources before it keep running.
// A change of operation settings only restarts nothing.
func TestReconfigureRestartsAChangedResourceInPlace(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	old := r.agents["haproxy"]

	cfg := r.config()
	cfg.Groups[0].Resources[0].MonitorInterval = 30 * time.Millisecond
	if err := r.exec.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(r.log.get()); n != 2 {
		t.Fatalf("an operation setting restarted something: %v", r.log.get())
	}

	cfg = r.config()
	cfg.Groups[0].Resources[0].MonitorInterval = 30 * time.Millisecond
	cfg.Groups[0].Resources[1].Params = map[string]string{"config": "/etc/haproxy/new.cfg"}
	if err := r.exec.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "haproxy restarted", func() bool {
		n := r.agents["haproxy"]
		return n != old && n.running.Load() && r.log.count("start haproxy") == 2
	})
	if old.running.Load() {
		t.Error("the old haproxy definition still runs")
	}
	if r.log.count("stop vip") != 0 || r.log.count("start vip") != 1 {
		t.Errorf("the VIP before the changed resource was touched: %v", r.log.get())
	}
	if got := r.log.get(); got[2] != "stop haproxy" || got[3] != "start haproxy" {
		t.Errorf("calls %v, want stop then start of haproxy", got)
	}
	if st := r.groupState(); st != state.GroupStarted {
		t.Errorf("group %s after the restart", st)
	}
}

// A reload adds a group (it starts once assigned here) and removes one (it
// is stopped when the leader assigns it nowhere, and its runner ends once
// the state dropped it); the other group is not touched.
func TestReconfigureAddsAndRemovesGroups(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	cfg := r.config()
	api := configs.Group{Name: "api", Resources: []configs.Resource{{Type: "exec", Name: "app",
		StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second, MonitorInterval: 20 * time.Millisecond}}}
	cfg.Groups = append(cfg.Groups, api)
	if err := r.exec.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	r.mustApply(t, &state.Assign{Group: "api", Node: "n1", Time: time.Now()})
	r.wait(t, "api started", func() bool {
		g := r.store.Read().Groups["api"]
		return g != nil && g.State == state.GroupStarted && r.agents["app"].running.Load()
	})

	cfg = r.config() // web only
	if err := r.exec.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if !r.agents["app"].running.Load() {
		t.Fatal("a removed group was stopped before the leader assigned it nowhere")
	}
	r.mustApply(t, &state.Assign{Group: "api", Node: "", Time: time.Now()})
	r.wait(t, "api stopped and released", func() bool {
		g := r.store.Read().Groups["api"]
		return !r.agents["app"].running.Load() && g.Holder == ""
	})
	r.mustApply(t, &state.DefineGroups{Groups: map[string][]string{"web": {"vip", "haproxy"}}, Time: time.Now()})
	r.wait(t, "api runner gone", func() bool { return slices.Equal(r.groups(), []string{"web"}) })
	if r.log.count("stop vip")+r.log.count("stop haproxy") != 0 {
		t.Errorf("the unchanged group was touched: %v", r.log.get())
	}
}

// A parameter that does not build changes nothing.
func TestReconfigureRefusesABadResource(t *testing.T) {
	r := newRig(t, 3)
	cfg := r.config()
	cfg.Groups[0].Resources[1].Type = "nosuch"
	cfg.Groups = append(cfg.Groups, configs.Group{Name: "api"})
	if err := r.exec.Reconfigure(cfg); err == nil {
		t.Fatal("an unknown resource type was accepted")
	}
	if got := r.groups(); !slices.Equal(got, []string{"web"}) {
		t.Errorf("groups %v after a refused reload", got)
	}
}

// In maintenance a changed resource is not restarted: the new definition
// waits until maintenance ends.
func TestReconfigureWaitsForMaintenanceToEnd(t *testing.T) {
	r := newRig(t, 3)
	r.assign("n1")
	r.wait(t, "started", func() bool { return r.groupState() == state.GroupStarted })
	r.mustApply(t, &state.SetMaintenance{On: true, Time: time.Now()})
	cfg := r.config()
	cfg.Groups[0].Resources[1].Params = map[string]string{"config": "new"}
	if err := r.exec.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := r.log.get(); len(got) != 2 {
		t.Fatalf("maintenance acted on a reload: %v", got)
	}
	r.mustApply(t, &state.SetMaintenance{On: false, Time: time.Now()})
	r.wait(t, "restart once maintenance ended", func() bool { return r.log.count("start haproxy") == 2 })
	if r.log.count("stop vip") != 0 {
		t.Errorf("the VIP was touched: %v", r.log.get())
	}
}
