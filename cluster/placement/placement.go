// Package placement decides where resource groups should run. It is pure:
// Plan reads the replicated state, the configuration and the coordinator's
// facts, and returns the assignments to commit. No I/O, no clock.
package placement

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Facts are the coordinator's live observations that are not (yet) in the
// replicated state.
type Facts struct {
	// Healthy[node][group] is false when that node fails the group's checks
	// (fall reached). Missing entries count as healthy: a standby whose checks
	// have not run yet must not block a failover.
	Healthy map[string]map[string]bool
	// NodeHealthy[node] is false when a node-wide check failed.
	NodeHealthy map[string]bool
	// Failing[node][group] names the failing checks ("" group: node-wide),
	// so history says which check drove a move.
	Failing map[string]map[string]string
	// NotJoined[node] says why a node has not joined this leader yet (no
	// answer on the cluster link): no group is placed there, but a group
	// already there stays.
	NotJoined map[string]string
	// Joining are nodes that have not joined this leader but are alive on
	// the heartbeat link, early in its term (a cluster starting together,
	// its nodes' raft still electing or catching up): a group that runs
	// nowhere waits for its preferred node among them instead of starting
	// on the first node that answered and staying there (failback = false).
	Joining map[string]bool
}

// Input is everything Plan needs.
type Input struct {
	Data   *state.Data
	Config *configs.Config
	Facts  Facts
	Now    time.Time
}

// Action is one assignment to commit: Node "" stops the group where it runs.
type Action struct {
	Group  string
	Node   string
	Reason string
	Health bool // a health-driven move (rate limited, counted)
}

// Decision explains why a group that could not be placed stays where it is.
type Decision struct {
	Group  string
	Reason string
}

// Plan returns the assignments that bring the cluster closer to its goal,
// plus the reasons for groups left as they are.
func Plan(in Input) ([]Action, []Decision) {
	var acts []Action
	var why []Decision
	if in.Data.Maintenance {
		return nil, nil
	}
	for _, gc := range in.Config.Groups {
		g := in.Data.Groups[gc.Name]
		if g == nil {
			g = emptyGroup(gc.Name)
		}
		if in.Data.HandsOff(gc.Name, gc.Maintenance) || g.State == state.GroupBlocked {
			continue
		}
		if !ordered(in, gc.Name) {
			why = append(why, Decision{gc.Name, "waiting for the groups it is ordered after"})
			continue
		}
		a, d := planGroup(in, gc, g)
		if a != nil {
			acts = append(acts, *a)
		}
		if d != "" {
			why = append(why, Decision{gc.Name, d})
		}
	}
	return acts, why
}

// emptyGroup is a group the replicated state has no record of yet.
func emptyGroup(name string) *state.Group {
	return &state.Group{Name: name, State: state.GroupStopped}
}

func planGroup(in Input, gc configs.Group, g *state.Group) (*Action, string) {
	cands, reasons := candidates(in, gc, g)
	cur := g.Node
	if cur != "" {
		if !contains(cands, cur) {
			why := reasons[cur]
			healthOnly := strings.HasPrefix(why, healthReason)
			if healthOnly {
				if len(cands) == 0 {
					return nil, "failing health checks on " + cur + " and no healthy node to move to"
				}
				if wait := g.LastHealthMove.Add(gc.MinMoveInterval).Sub(in.Now); !g.LastHealthMove.IsZero() && wait > 0 {
					return nil, fmt.Sprintf("failing health checks on %s; next move allowed in %s (min_move_interval)", cur, wait.Round(time.Second))
				}
			}
			return &Action{Group: gc.Name, Node: "", Reason: cur + " " + why, Health: healthOnly}, ""
		}
		if want := preferred(gc, g, cands); want != "" && want != cur {
			return &Action{Group: gc.Name, Node: "", Reason: "moving to " + want}, ""
		}
		return nil, ""
	}
	if g.Holder != "" {
		// A holder waiting for its fence is explained by the coordinator,
		// which knows how the fence is going.
		if hn := in.Data.Nodes[g.Holder]; hn != nil && hn.Status != state.NodeOnline {
			return nil, "waiting for " + g.Holder + "'s lease to run out (" + hn.Status + ")"
		}
		return nil, "waiting for " + g.Holder + " to stop the group"
	}
	if p := gc.Prefer; in.Facts.Joining[p] && g.MovedTo == "" && !contains(cands, p) && eligibleOnceJoined(in, gc, g, p) {
		return nil, "waiting for " + p + " (preferred) to answer this leader on the cluster link"
	}
	if len(cands) == 0 {
		return nil, "no eligible node: " + summarize(reasons)
	}
	target := preferred(gc, g, cands)
	if target == "" {
		target = leastLoaded(in.Data, cands)
	}
	health := false
	for _, r := range reasons {
		if strings.HasPrefix(r, healthReason) {
			health = true
		}
	}
	// A group that ran elsewhere before is moving (g.Moves only counts this
	// move once it is applied, so it is 0 on the group's first move).
	moving := g.Last != "" && g.Last != target
	return &Action{Group: gc.Name, Node: target, Reason: "placing on " + target, Health: health && moving}, ""
}

const healthReason = "failing health checks"

func failing(f Facts, node, group string) string {
	if names := f.Failing[node][group]; names != "" {
		return " (" + names + ")"
	}
	return ""
}

// candidates lists the nodes able to run the group, in config order, and
// why each other node is not.
func candidates(in Input, gc configs.Group, g *state.Group) ([]string, map[string]string) {
	var out []string
	why := map[string]string{}
	for _, n := range in.Config.Nodes {
		if r := ineligible(in, gc, g, n); r != "" {
			why[n.Name] = r
			continue
		}
		out = append(out, n.Name)
	}
	return out, why
}

// eligibleOnceJoined: node could run the group but for not having joined
// (which also makes it offline, "never joined", until it answers). A node
// failed or fenced is not waited for.
func eligibleOnceJoined(in Input, gc configs.Group, g *state.Group, node string) bool {
	for _, n := range in.Config.Nodes {
		if n.Name != node {
			continue
		}
		ns := state.Node{Name: node}
		if cur := in.Data.Nodes[node]; cur != nil {
			ns = *cur
		}
		if ns.Status != "" && ns.Status != state.NodeOffline && ns.Status != state.NodeOnline {
			return false
		}
		ns.Status = state.NodeOnline
		d := *in.Data
		d.Nodes = maps.Clone(d.Nodes)
		d.Nodes[node] = &ns
		in.Data = &d
		in.Facts.NotJoined = maps.Clone(in.Facts.NotJoined)
		delete(in.Facts.NotJoined, node)
		return ineligible(in, gc, g, n) == ""
	}
	return false
}

func ineligible(in Input, gc configs.Group, g *state.Group, n configs.Node) string {
	if n.Witness {
		return "is a witness"
	}
	ns := in.Data.Nodes[n.Name]
	switch {
	case ns == nil || ns.Status == "":
		return "has not been seen"
	case ns.Status != state.NodeOnline:
		return "is " + ns.Status
	case ns.Standby:
		return "is in standby"
	case ns.Leaving:
		return "is shutting down"
	}
	if r := in.Facts.NotJoined[n.Name]; r != "" && g.Node != n.Name {
		return r
	}
	if gc.MigrationThreshold > 0 && g.FailCount(n.Name) >= gc.MigrationThreshold {
		return fmt.Sprintf("reached migration_threshold (%d failures)", g.FailCount(n.Name))
	}
	if h, ok := in.Facts.NodeHealthy[n.Name]; ok && !h {
		return healthReason + failing(in.Facts, n.Name, "")
	}
	if h, ok := in.Facts.Healthy[n.Name][gc.Name]; ok && !h {
		return healthReason + failing(in.Facts, n.Name, gc.Name)
	}
	for _, c := range in.Config.Colocations {
		if c.Group != gc.Name {
			continue
		}
		other := in.Data.Groups[c.With]
		on := ""
		if other != nil {
			on = other.Node
		}
		if !c.Apart && on != n.Name {
			return "colocation with " + c.With
		}
		if c.Apart && on == n.Name {
			return "anti-colocation with " + c.With
		}
	}
	return ""
}

// preferred returns the node the group should move to even while its current
// node is fine: an operator pin, or its preferred node when failback is on.
func preferred(gc configs.Group, g *state.Group, cands []string) string {
	if g.MovedTo != "" && contains(cands, g.MovedTo) {
		return g.MovedTo
	}
	if gc.Prefer != "" && contains(cands, gc.Prefer) && (gc.Failback || g.Node == "") {
		return gc.Prefer
	}
	if g.Node != "" {
		return g.Node // stickiness
	}
	return ""
}

// ordered reports whether every group ordered before name is started.
func ordered(in Input, name string) bool {
	for _, o := range in.Config.Orders {
		if o.Then != name {
			continue
		}
		first := in.Data.Groups[o.First]
		if first == nil || first.State != state.GroupStarted {
			g := in.Data.Groups[name]
			return g != nil && g.Node != "" // never stop a running group for order
		}
	}
	return true
}

func leastLoaded(d *state.Data, cands []string) string {
	best, load := "", -1
	for _, c := range cands {
		n := 0
		for _, g := range d.Groups {
			if g.Node == c {
				n++
			}
		}
		if load < 0 || n < load {
			best, load = c, n
		}
	}
	return best
}

func summarize(reasons map[string]string) string {
	names := make([]string, 0, len(reasons))
	for n := range reasons {
		names = append(names, n)
	}
	sort.Strings(names)
	s := ""
	for _, n := range names {
		r := reasons[n]
		if r == "is a witness" {
			continue
		}
		if s != "" {
			s += "; "
		}
		s += n + " " + r
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
