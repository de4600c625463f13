package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ha/vigil/cluster/state"
)

// Every state a node or group can be in, so that each state series exists
// (0 or 1) and a dashboard can alert on a series going to 1.
func nodeStates() []string {
	return []string{state.NodeOnline, "standby", "leaving", state.NodeOffline, state.NodeFailed, state.NodeFenced, "unknown"}
}

func groupStates() []string {
	return []string{state.GroupStopped, state.GroupStarting, state.GroupStarted, state.GroupStopping, state.GroupFailed, state.GroupBlocked}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// descs are the state gauges' descriptions, built once per collector.
type descs struct {
	descIsLeader    *prometheus.Desc
	descLeader      *prometheus.Desc
	descTerm        *prometheus.Desc
	descQuorum      *prometheus.Desc
	descMaint       *prometheus.Desc
	descLease       *prometheus.Desc
	descWarnings    *prometheus.Desc
	descNodeState   *prometheus.Desc
	descLinkUp      *prometheus.Desc
	descGroupState  *prometheus.Desc
	descGroupNode   *prometheus.Desc
	descGroupMoves  *prometheus.Desc
	descFailCount   *prometheus.Desc
	descCheckHealth *prometheus.Desc
}

func newDescs() descs {
	return descs{
		descIsLeader:    desc("vigil_is_leader", "1 if this node is the raft leader."),
		descLeader:      desc("vigil_leader", "1 for the node this node knows as the raft leader (no series while there is none).", "node"),
		descTerm:        desc("vigil_raft_term", "The current raft term."),
		descQuorum:      desc("vigil_quorum", "1 if this node is in contact with a quorum of voters."),
		descMaint:       desc("vigil_maintenance", "1 while the cluster is in maintenance mode."),
		descLease:       desc("vigil_lease_remaining_seconds", "How long this node may still run resources without hearing from a quorum."),
		descWarnings:    desc("vigil_warnings", "Number of warnings `vigil status` shows on this node."),
		descNodeState:   desc("vigil_node_state", "1 for the state each node is in.", "node", "state"),
		descLinkUp:      desc("vigil_node_link_up", "1 if the link to the node is up, 0 if lost (no series while unknown). link is heartbeat or cluster.", "node", "link"),
		descGroupState:  desc("vigil_group_state", "1 for the state each group is in.", "group", "state"),
		descGroupNode:   desc("vigil_group_location", "1 for the node a group is assigned to (no series while it is nowhere).", "group", "node"),
		descGroupMoves:  desc("vigil_group_moves_total", "Times the group moved to another node (replicated).", "group"),
		descFailCount:   desc("vigil_resource_failures", "Current fail count of each resource on the node running its group.", "group", "resource"),
		descCheckHealth: desc("vigil_health_check_healthy", "1 if the check is healthy, 0 if unhealthy (no series while unknown).", "node", "group", "check"),
	}
}

// stateCollector turns the status view into gauges at scrape time.
type stateCollector struct {
	m *Metrics
	descs
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descIsLeader, c.descLeader, c.descTerm, c.descQuorum, c.descMaint, c.descLease, c.descWarnings, c.descNodeState, c.descLinkUp, c.descGroupState, c.descGroupNode, c.descGroupMoves, c.descFailCount, c.descCheckHealth} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.d.View()
	d := c.descs
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(d.descIsLeader, b2f(c.m.d.IsLeader()))
	if st.Leader != "" {
		gauge(d.descLeader, 1, st.Leader)
	}
	gauge(d.descTerm, float64(st.Term))
	gauge(d.descQuorum, b2f(st.Quorum))
	gauge(d.descMaint, b2f(st.Maintenance))
	gauge(d.descWarnings, float64(len(st.Warnings)))
	if c.m.d.LeaseRemaining != nil {
		gauge(d.descLease, max(c.m.d.LeaseRemaining().Seconds(), 0))
	}
	for _, n := range st.Nodes {
		for _, s := range nodeStates() {
			gauge(d.descNodeState, b2f(n.State == s), n.Name, s)
		}
		for link, v := range map[string]string{"heartbeat": n.Heartbeat, "cluster": n.ClusterLink} {
			switch v {
			case "ok":
				gauge(d.descLinkUp, 1, n.Name, link)
			case "lost", "suspect":
				gauge(d.descLinkUp, 0, n.Name, link)
			}
		}
	}
	for _, g := range st.Groups {
		for _, s := range groupStates() {
			gauge(d.descGroupState, b2f(g.State == s), g.Name, s)
		}
		if g.Node != "" {
			gauge(d.descGroupNode, 1, g.Name, g.Node)
		}
		ch <- prometheus.MustNewConstMetric(d.descGroupMoves, prometheus.CounterValue, float64(g.Moves), g.Name)
		for _, r := range g.Resources {
			gauge(d.descFailCount, float64(r.FailCount), g.Name, r.Name)
		}
	}
	for _, ck := range st.Checks {
		switch ck.State {
		case "healthy":
			gauge(d.descCheckHealth, 1, ck.Node, ck.Group, ck.Name)
		case "unhealthy":
			gauge(d.descCheckHealth, 0, ck.Node, ck.Group, ck.Name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
