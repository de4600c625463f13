package coordinator

import (
	"strings"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/placement"
)

// FailingPrefix marks node metadata entries naming a group's failing checks
// ("failing.web" = "site,backend").
const FailingPrefix = "failing."

// facts reads health results from each node's gossiped metadata, and which
// nodes have not joined this leader yet.
func facts(in Input) placement.Facts {
	f := placement.Facts{Healthy: map[string]map[string]bool{}, NodeHealthy: map[string]bool{},
		Failing: map[string]map[string]string{}, NotJoined: map[string]string{}}
	for _, n := range in.Config.Nodes {
		if !in.joined(n.Name) {
			f.NotJoined[n.Name] = "has not answered " + in.Config.NodeName + " on the cluster link since it became leader"
			if in.joining(n.Name) {
				if f.Joining == nil {
					f.Joining = map[string]bool{}
				}
				f.Joining[n.Name] = true
			}
		}
	}
	for name, m := range in.Members {
		if m.State == membership.StateDead || m.State == membership.StateLeft {
			continue // its last word on health is stale
		}
		for k, v := range m.Meta.Extra {
			if grp, ok := strings.CutPrefix(k, FailingPrefix); ok {
				if f.Failing[name] == nil {
					f.Failing[name] = map[string]string{}
				}
				f.Failing[name][grp] = v
			}
		}
		for grp, ok := range m.Meta.Health {
			if grp == "" {
				f.NodeHealthy[name] = ok
				continue
			}
			if f.Healthy[name] == nil {
				f.Healthy[name] = map[string]bool{}
			}
			f.Healthy[name][grp] = ok
		}
	}
	return f
}

// joining: node is alive on the heartbeat link and has not answered this
// leader yet, within a lease of the election (raft on a node that booted with
// the others may still be electing or catching up). Never the leader it
// replaced: that one is gone, not joining. Within a lease, because a group
// released from a holder that died unseen is released no earlier than a
// lease after the election: a failover never waits for a joiner.
func (in Input) joining(node string) bool {
	if node == in.Term.PrevLeader || node == in.Config.NodeName {
		return false
	}
	if st, _ := in.link(node); st != linkUnknown {
		return false
	}
	m, ok := in.Members[node]
	return ok && m.State == membership.StateAlive && !in.due(in.Term.Since.Add(in.Config.Cluster.Timing.Lease))
}
