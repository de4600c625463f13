package main

import (
	"fmt"
	"strings"

	"github.com/vigil-ha/vigil/cluster/api"
)

// Nagios plugin exit codes.
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
)

// checkStatus turns a status into a monitoring verdict: the exit code and
// one line, Nagios style ("VIGIL WARNING - ...").
//
// Critical: no leader or no quorum, a group that runs nowhere. Warning: a
// node lost and not fenced (its groups cannot move), a node fenced, a
// failing fence device, a link down, maintenance, any other warning the
// status shows.
func checkStatus(st api.Status) (int, string) {
	var crit, warn []string
	if st.Leader == "" {
		crit = append(crit, "no leader")
	}
	if !st.Quorum {
		crit = append(crit, "no quorum")
	}
	started := 0
	for _, g := range st.Groups {
		switch {
		case g.State == "started" && g.Node != "":
			started++
		case g.Maintenance || st.Maintenance:
			warn = append(warn, fmt.Sprintf("group %s %s (maintenance)", g.Name, g.State))
		default:
			crit = append(crit, fmt.Sprintf("group %s runs nowhere (%s)", g.Name, g.State))
		}
	}
	online := 0
	for _, n := range st.Nodes {
		switch n.State {
		case "online":
			online++
		case "offline", "failed", "unknown":
			warn = append(warn, fmt.Sprintf("node %s lost unfenced (%s)", n.Name, n.State))
		case "fenced":
			warn = append(warn, fmt.Sprintf("node %s fenced", n.Name))
		}
		if n.State == "online" || n.State == "standby" || n.State == "leaving" {
			if n.Heartbeat != "ok" {
				warn = append(warn, fmt.Sprintf("heartbeat link to %s down", n.Name))
			}
			if n.ClusterLink == "lost" {
				warn = append(warn, fmt.Sprintf("cluster link to %s down", n.Name))
			}
		}
	}
	for _, f := range failingDevices(st.Fencing) {
		warn = append(warn, "fence device "+f+" failing")
	}
	if st.Maintenance {
		warn = append(warn, "cluster in maintenance mode")
	}
	for _, w := range st.Warnings {
		if !covered(w) {
			warn = append(warn, w)
		}
	}
	summary := fmt.Sprintf("leader %s, %d/%d nodes online, %d/%d groups started", orNone(st.Leader), online, len(st.Nodes), started, len(st.Groups))
	perf := fmt.Sprintf("nodes_online=%d;;;0;%d groups_started=%d;;;0;%d", online, len(st.Nodes), started, len(st.Groups))
	switch {
	case len(crit) > 0:
		return checkCritical, "VIGIL CRITICAL - " + strings.Join(append(crit, warn...), "; ") + " | " + perf
	case len(warn) > 0:
		return checkWarning, "VIGIL WARNING - " + strings.Join(warn, "; ") + " | " + perf
	}
	return checkOK, "VIGIL OK - " + summary + " | " + perf
}

// failingDevices are the fence devices whose last attempt failed.
func failingDevices(fs []api.FenceRecord) []string {
	last := map[string]bool{}
	var order []string
	for _, f := range fs {
		if _, seen := last[f.Device]; !seen {
			order = append(order, f.Device)
		}
		last[f.Device] = f.Result == "ok"
	}
	var out []string
	for _, d := range order {
		if !last[d] {
			out = append(out, d)
		}
	}
	return out
}

// covered reports whether a status warning is already said by a check above
// (no leader, maintenance, the heartbeat-only warning).
func covered(w string) bool {
	return strings.HasPrefix(w, "no leader") || strings.HasPrefix(w, "cluster is in maintenance") ||
		strings.HasPrefix(w, "group ") && strings.Contains(w, " runs nowhere") ||
		strings.Contains(w, "heartbeat link ") && strings.Contains(w, "while the cluster link is up")
}

func orNone(s string) string {
	if s == "" {
		return "NONE"
	}
	return s
}
