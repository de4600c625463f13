package coordinator

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

func cfgWithGroups(groups ...configs.Group) *configs.Config {
	return &configs.Config{NodeName: "lb1", Groups: groups}
}

func grp(name string, res ...string) configs.Group {
	g := configs.Group{Name: name}
	for _, r := range res {
		g.Resources = append(g.Resources, configs.Resource{Name: r, Type: "ipaddr"})
	}
	return g
}

// GroupCommands defines the group list when it differs, leaves unchanged
// groups alone, stops a removed group that is still assigned and drops it
// once nobody holds it.
func TestGroupCommands(t *testing.T) {
	now := time.Now()
	cfg := cfgWithGroups(grp("web", "vip", "haproxy"), grp("api", "vip"))
	data := &state.Data{Groups: map[string]*state.Group{
		"web": {Name: "web", Node: "lb1", Holder: "lb1", State: state.GroupStarted},
	}}
	// Nothing defined yet (a cluster's first leader): define.
	cmds, _ := GroupCommands(cfg, data, now)
	if len(cmds) != 1 {
		t.Fatalf("first leader: %d commands, want one DefineGroups", len(cmds))
	}
	d, ok := cmds[0].(*state.DefineGroups)
	if !ok || len(d.Groups) != 2 || len(d.Groups["web"]) != 2 || d.Groups["web"][1] != "haproxy" {
		t.Fatalf("first leader: %#v", cmds[0])
	}
	data.Defined = d.Groups
	if cmds, _ := GroupCommands(cfg, data, now); len(cmds) != 0 {
		t.Fatalf("unchanged configuration: %d commands %v, want none", len(cmds), cmds)
	}
	// A resource added to web: redefine; nothing is assigned anywhere.
	cfg2 := cfgWithGroups(grp("web", "vip", "haproxy", "app"), grp("api", "vip"))
	cmds, _ = GroupCommands(cfg2, data, now)
	if len(cmds) != 1 {
		t.Fatalf("resource added: %v", cmds)
	}
	if _, ok := cmds[0].(*state.DefineGroups); !ok {
		t.Fatalf("resource added: %#v", cmds[0])
	}
	// web removed while lb1 runs it: define the new list (the state keeps
	// web while it is held), then assign web nowhere.
	cfg3 := cfgWithGroups(grp("api", "vip"))
	cmds, _ = GroupCommands(cfg3, data, now)
	d, ok = cmds[0].(*state.DefineGroups)
	if len(cmds) != 1 || !ok || d.Groups["web"] != nil {
		t.Fatalf("web removed: %v", cmds)
	}
	data.Defined = d.Groups
	cmds, _ = GroupCommands(cfg3, data, now)
	if len(cmds) != 1 {
		t.Fatalf("web removed, defined: %v", cmds)
	}
	if a, ok := cmds[0].(*state.Assign); !ok || a.Group != "web" || a.Node != "" {
		t.Fatalf("web removed: %#v, want an assignment to no node", cmds[0])
	}
	// Stopping: nothing more until lb1 reports it stopped.
	data.Groups["web"].Node = ""
	if cmds, settled := GroupCommands(cfg3, data, now); len(cmds) != 0 || settled {
		t.Fatalf("web stopping: %v (settled %v), want nothing, not settled (web still to drop)", cmds, settled)
	}
	// Stopped: define again, which drops it.
	data.Groups["web"].Holder = ""
	cmds, _ = GroupCommands(cfg3, data, now)
	if _, ok := cmds[0].(*state.DefineGroups); len(cmds) != 1 || !ok {
		t.Fatalf("web stopped: %v, want DefineGroups to drop it", cmds)
	}
}
