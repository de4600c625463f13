package agent

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/coordinator"
	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/placement"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// view builds this node's status screen from local facts plus the
// replicated state. On the leader it sees every node's cluster link; the API
// forwards status requests to the leader for that reason.
func (a *Agent) view() api.Status {
	data := a.fsm.Read()
	leaderID, _ := a.raft.Leader()
	isLeader := a.raft.IsLeader()
	st := api.Status{
		Cluster: a.cfg.Cluster.Name, Node: a.cfg.NodeName, Leader: leaderID, Term: a.raft.Term(),
		Quorum: a.lease(), Maintenance: data.Maintenance,
	}
	if m, err := a.raft.Membership(); err == nil {
		st.Voters, st.Nonvoters = m.Voters, m.Nonvoters
	}
	members := map[string]membership.Member{}
	for _, m := range a.mem.Members() {
		members[m.Name] = m
	}
	links := a.links()
	for _, n := range a.cfg.Nodes {
		st.Nodes = append(st.Nodes, a.nodeStatus(n, data, members, links, isLeader, leaderID))
	}
	decisions := a.coord.Decisions()
	locals := map[string]api.Local{a.cfg.NodeName: a.local()}
	if isLeader {
		locals = a.locals()
	}
	for _, gc := range a.current().Groups {
		st.Groups = append(st.Groups, a.groupStatus(gc, data, decisions[gc.Name], locals))
	}
	for _, n := range a.cfg.Nodes {
		st.Checks = append(st.Checks, locals[n.Name].Checks...)
		st.FenceDevices = append(st.FenceDevices, locals[n.Name].FenceDevices...)
		st.Failures = append(st.Failures, locals[n.Name].Failures...)
	}
	for _, f := range data.Fencing {
		r := api.FenceRecord{Time: f.Time, Target: f.Target, Device: f.Device, Reason: f.Reason,
			Result: "ok", Duration: f.Duration, Error: f.Error}
		if !f.OK {
			r.Result = "failed"
		}
		st.Fencing = append(st.Fencing, r)
	}
	if leaderID == "" {
		st.Warnings = append(st.Warnings, "no leader: this node is not in contact with a quorum of voters")
	}
	if data.Maintenance {
		st.Warnings = append(st.Warnings, "cluster is in maintenance mode: vigil will not start, stop or move anything")
	}
	st.Warnings = append(st.Warnings, a.peerWarnings()...)
	for _, n := range st.Nodes {
		for _, w := range n.Warnings {
			st.Warnings = append(st.Warnings, n.Name+": "+w)
		}
	}
	st.Warnings = append(st.Warnings, lifecycleWarnings(st, time.Now())...)
	st.Warnings = append(st.Warnings, groupWarnings(st)...)
	if a.pair != nil {
		if w := a.pair.warning(); w != "" {
			st.Warnings = append(st.Warnings, w)
		}
	}
	st.Warnings = append(st.Warnings, configWarnings(members, a.cfg.Nodes)...)
	if w := a.voterWarning(); w != "" {
		st.Warnings = append(st.Warnings, w)
	}
	return st
}

func (a *Agent) nodeStatus(n configs.Node, data *state.Data, members map[string]membership.Member,
	links map[string]coordinator.Link, isLeader bool, leaderID string) api.NodeStatus {
	ns := api.NodeStatus{Name: n.Name, Role: "node", State: "unknown", Heartbeat: "lost", ClusterLink: "unknown",
		Leader: n.Name == leaderID}
	if n.Witness {
		ns.Role = "witness"
	}
	if s := data.Nodes[n.Name]; s != nil {
		ns.Standby = s.Standby
		if s.Status != "" {
			ns.State = s.Status
		}
		if s.Status == state.NodeOnline && s.Standby {
			ns.State = "standby"
		}
		if s.Status == state.NodeOnline && s.Leaving {
			ns.State = "leaving"
		}
		if s.Status == state.NodeFailed && strings.HasPrefix(s.Reason, "lost unfenced") {
			ns.Warnings = append(ns.Warnings, s.Reason) // DESIGN.md invariant 7
		}
	}
	switch m, ok := members[n.Name]; {
	case n.Name == a.cfg.NodeName:
		ns.Heartbeat = "ok"
	case ok && m.State == membership.StateAlive:
		ns.Heartbeat = "ok"
	case ok && m.State == membership.StateSuspect:
		ns.Heartbeat = "suspect"
	}
	switch {
	case n.Name == a.cfg.NodeName:
		ns.ClusterLink = linkWord(a.lease())
	case isLeader:
		if l, ok := links[n.Name]; ok && l.Answered {
			ns.ClusterLink = linkWord(l.OK)
		} // else unknown: it has not answered this leader yet
	case n.Name == leaderID:
		ns.ClusterLink = linkWord(a.lease())
	}
	if m, ok := members[n.Name]; ok {
		if w := storeWarning(m.Meta.Extra); w != "" {
			ns.Warnings = append(ns.Warnings, w)
		}
		if t, ok := certExpiry(m.Meta.Extra); ok {
			ns.CertExpires = t
			if w := certWarning(t, time.Now()); w != "" {
				ns.Warnings = append(ns.Warnings, w)
			}
		}
	}
	if ns.Heartbeat != "ok" && ns.ClusterLink == "ok" && n.Name != a.cfg.NodeName {
		ns.Warnings = append(ns.Warnings, "heartbeat link "+ns.Heartbeat+" while the cluster link is up: "+
			"not a failure (one signal only); check the dedicated link")
	}
	return ns
}

func linkWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "lost"
}

func (a *Agent) groupStatus(gc configs.Group, data *state.Data, decision string, locals map[string]api.Local) api.GroupStatus {
	gs := api.GroupStatus{Name: gc.Name, State: state.GroupStopped, Maintenance: gc.Maintenance}
	g := data.Groups[gc.Name]
	if g != nil {
		gs.Node, gs.State, gs.Reason = g.Node, g.State, g.Reason
		gs.Moves, gs.HealthMoves = g.Moves, g.HealthMoves
		gs.Maintenance = gs.Maintenance || g.Maintenance
		gs.Unmanaged = g.Unmanaged
		if g.Node == "" && g.Holder != "" {
			gs.Node = g.Holder
		}
		gs.PinnedTo, gs.Pin = g.MovedTo, a.pinNote(gc.Name, g.MovedTo, data)
	}
	if decision != "" {
		gs.Reason = decision
	}
	local := locals[gs.Node].Resources[gc.Name]
	for _, rc := range gc.Resources {
		rs := api.ResourceStatus{Name: rc.Name, Type: rc.Type, State: "stopped"}
		if gs.State == state.GroupStarted {
			rs.State = "running"
		}
		if local[rc.Name] != "" {
			rs.State = local[rc.Name]
		}
		if g != nil && g.Resources[rc.Name] != nil {
			r := g.Resources[rc.Name]
			rs.FailCount = r.FailCount[gs.Node]
			rs.LastFailure, rs.LastFailAt = r.LastFailure, r.LastFailAt
		}
		gs.Resources = append(gs.Resources, rs)
	}
	return gs
}

// pinNote explains an operator pin: it overrides prefer and failback until
// cleared, so a forgotten one must be visible.
func (a *Agent) pinNote(group, node string, data *state.Data) string {
	if node == "" {
		return ""
	}
	s := fmt.Sprintf("pinned to %s by operator (overrides prefer and failback); `vigil resource clear %s` removes it", node, group)
	in := placement.Input{Data: data, Config: a.current()}
	if why := placement.Ineligible(in, group, node); why != "" {
		s += fmt.Sprintf("; not in effect now: %s %s", node, why)
	}
	return s
}

// members is `vigil members`: the heartbeat link's view from this node.
func (a *Agent) members() []api.Member {
	leaderID, _ := a.raft.Leader()
	voters := map[string]bool{}
	for _, n := range a.cfg.Nodes {
		voters[n.Name] = true
	}
	var out []api.Member
	for _, m := range a.mem.Members() {
		am := api.Member{Name: m.Name, Addr: m.Addr, State: string(m.State), Role: m.Meta.Role,
			Voter: voters[m.Name], Leader: m.Name == leaderID, Meta: map[string]string{"version": m.Meta.Version, "standby": strconv.FormatBool(m.Meta.Standby)}}
		for k, v := range m.Meta.Extra {
			am.Meta[k] = v
		}
		out = append(out, am)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// local is this node's own view (checks, resource states) for the leader.
func (a *Agent) local() api.Local {
	l := api.Local{Node: a.cfg.NodeName, Resources: map[string]map[string]string{}}
	for _, s := range a.health.Snapshot() {
		l.Checks = append(l.Checks, api.CheckStatus{Node: a.cfg.NodeName, Group: s.Group, Name: s.Name,
			State: s.State, Consecutive: s.Consecutive, Output: s.Last.Output, At: s.Last.At, Since: s.Changed})
	}
	for _, g := range a.exec.Local() {
		l.Resources[g.Group] = g.Resources
		for _, f := range g.Failures {
			l.Failures = append(l.Failures, api.OpFailure{Node: a.cfg.NodeName, Group: g.Group, Resource: f.Resource,
				Op: f.Op, Attempts: f.Attempts, Error: f.Error, Retry: f.Retry})
		}
	}
	l.FenceDevices = a.fence.Statuses()
	return l
}

// locals gathers every reachable node's own view, in parallel and briefly:
// a node that does not answer is simply missing from the checks table.
func (a *Agent) locals() map[string]api.Local {
	out := map[string]api.Local{a.cfg.NodeName: a.local()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for _, n := range a.cfg.Nodes {
		if n.Name == a.cfg.NodeName {
			continue
		}
		wg.Add(1)
		go func(n configs.Node) {
			defer wg.Done()
			var l api.Local
			if err := a.applier.Get(ctx, n.Name, n.Address, "/v1/internal/local", &l); err != nil {
				return
			}
			mu.Lock()
			out[n.Name] = l
			mu.Unlock()
		}(n)
	}
	wg.Wait()
	return out
}
