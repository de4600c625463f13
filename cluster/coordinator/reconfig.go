package coordinator

import (
	"slices"
	"sort"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// SetConfig hands the coordinator a reloaded configuration (`vigil
// reload`): its groups, checks and constraints take effect at the next
// decision. Settings that need a restart (nodes, timing) are the caller's
// to keep as they were.
func (c *Coordinator) SetConfig(cfg *configs.Config) {
	c.live.Store(cfg)
	c.wake()
}

// config is the configuration in force: the reloaded one, else the one the
// coordinator was built with.
func (c *Coordinator) config() *configs.Config {
	if cfg := c.live.Load(); cfg != nil {
		return cfg
	}
	return c.d.Config
}

func (c *Coordinator) wake() {
	select {
	case c.reloaded <- struct{}{}:
	default:
	}
}

// defineGroups commits the group list of the configuration in force when
// the replicated one differs, and stops groups that are no longer
// configured (see GroupCommands). Once the state matches a configuration in
// this term it is not read again until a reload (the leader loop runs
// every tick; an idle cluster should not copy its state twice per tick).
func (c *Coordinator) defineGroups() error {
	cfg := c.config()
	if c.settled.cfg == cfg && c.settled.term == c.term.Since {
		return nil
	}
	cmds, settled := GroupCommands(cfg, c.d.Store.Read(), c.d.Now())
	for _, cmd := range cmds {
		if err := c.apply(cmd); err != nil {
			return err
		}
	}
	if settled {
		c.settled.cfg, c.settled.term = cfg, c.term.Since
	}
	return nil
}

// settledDefs is the configuration the replicated group list last matched,
// in the leader term that checked it.
type settledDefs struct {
	cfg  *configs.Config
	term time.Time
}

// GroupCommands returns what makes the replicated group list match cfg:
// DefineGroups when the committed definition differs (or, for a group no
// longer configured that nobody holds any more, to drop it), and an
// assignment to no node for a removed group that is still assigned, so that
// its holder stops it (as `vigil node standby` would). Groups that did not
// change are left alone. settled reports that the state matches cfg: no
// commands, and no removed group left to stop or drop.
func GroupCommands(cfg *configs.Config, data *state.Data, now time.Time) (cmds []state.Command, settled bool) {
	want := Definitions(cfg)
	define := &state.DefineGroups{Groups: want, Time: now}
	if !sameDefinitions(data.Defined, want) || data.Defined == nil {
		return []state.Command{define}, false
	}
	var out []state.Command
	drop := false
	settled = true
	for _, name := range data.GroupNames() {
		if _, ok := want[name]; ok {
			continue
		}
		settled = false
		g := data.Groups[name]
		switch {
		case g.Holder == "":
			drop = true
		case g.Node != "":
			out = append(out, &state.Assign{Group: name, Node: "", Reason: "removed from the configuration", Time: now})
		}
	}
	if drop {
		out = append(out, define)
	}
	return out, settled
}

// Definitions lists cfg's groups and their resources, in order.
func Definitions(cfg *configs.Config) map[string][]string {
	out := make(map[string][]string, len(cfg.Groups))
	for _, g := range cfg.Groups {
		rs := make([]string, 0, len(g.Resources))
		for _, r := range g.Resources {
			rs = append(rs, r.Name)
		}
		out[g.Name] = rs
	}
	return out
}

func sameDefinitions(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		bv, ok := b[k]
		if !ok || !slices.Equal(a[k], bv) {
			return false
		}
	}
	return true
}
