package coordinator

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/configs"
)

// GuardKey is the node metadata entry carrying a node's crash-guard
// parameters (GuardParams.String), so the leader knows the deadline the lost
// node's own guard enforces even when the configs differ.
const GuardKey = "guard"

// GuardParams are what a node's crash guard enforces (DESIGN.md invariant 7).
type GuardParams struct {
	// Lease: a follower's guard removes its addresses at its last contact
	// with the leader plus Lease.
	Lease time.Duration
	// LeaderLease: raft_leader_lease. A leader's guard removes its
	// addresses a heartbeat timeout after raft last called it leader, which
	// is before a new leader's election + LeaderLease (leaseEnd).
	LeaderLease time.Duration
	// Lifetime: the kernel lifetime of its addresses, renewed by the guard
	// only before its deadline; if agent and guard are both gone or frozen,
	// the kernel removes them within Lifetime + 1 s of that deadline.
	Lifetime time.Duration
}

// GuardParamsFor are the guard parameters that timing t implies: the
// address lifetime is twice the lease, at least 2 s (the kernel counts
// whole seconds).
func GuardParamsFor(t configs.Timing) GuardParams {
	lt := max(2*time.Second, (2*t.Lease+time.Second-1)/time.Second*time.Second)
	return GuardParams{Lease: t.Lease, LeaderLease: t.RaftLeaderLease, Lifetime: lt}
}

func (g GuardParams) String() string {
	return fmt.Sprintf("lease=%s,leader=%s,lifetime=%s", g.Lease, g.LeaderLease, g.Lifetime)
}

// ParseGuardParams parses GuardParams.String.
func ParseGuardParams(s string) (GuardParams, error) {
	var g GuardParams
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return GuardParams{}, fmt.Errorf("guard parameters %q: bad %s", s, k)
		}
		switch k {
		case "lease":
			g.Lease = d
		case "leader":
			g.LeaderLease = d
		case "lifetime":
			g.Lifetime = d
		}
	}
	if g.Lease == 0 || g.LeaderLease == 0 || g.Lifetime == 0 {
		return GuardParams{}, fmt.Errorf("guard parameters %q: incomplete", s)
	}
	return g, nil
}

// Merge is the safe combination of our own idea and what a node gossiped:
// the longer of each.
func (g GuardParams) Merge(o GuardParams) GuardParams {
	return GuardParams{Lease: max(g.Lease, o.Lease), LeaderLease: max(g.LeaderLease, o.LeaderLease),
		Lifetime: max(g.Lifetime, o.Lifetime)}
}

// AddressExpiry is when the kernel has removed a lost node's addresses even
// if its agent and its guard are both frozen: the guard renews lifetimes only
// before its deadline (at most releaseAt), and the kernel checks lifetimes
// with about a second's slack.
func AddressExpiry(releaseAt time.Time, g GuardParams) time.Time {
	return releaseAt.Add(g.Lifetime + time.Second)
}

// guardOf returns the guard parameters for node: ours merged with the last
// ones it gossiped (the driver remembers them across its death; members may
// forget them).
func (in Input) guardOf(node string) GuardParams {
	own := GuardParamsFor(in.Config.Cluster.Timing)
	if g, ok := in.Guards[node]; ok {
		return own.Merge(g)
	}
	return own
}

// noteGuards remembers the guard parameters the members gossip.
func (c *Coordinator) noteGuards(members map[string]membership.Member) {
	if c.guardSeen == nil {
		c.guardSeen = map[string]GuardParams{}
	}
	for name, m := range members {
		if s, ok := m.Meta.Extra[GuardKey]; ok {
			if g, err := ParseGuardParams(s); err == nil {
				c.guardSeen[name] = g
			}
		}
	}
}

// unfenced is the status reason of a node lost with no fence configured:
// its groups start elsewhere at its guard's deadline, and its addresses are
// gone by the expiry at the latest (DESIGN.md, "Crash guard").
func (in Input) unfenced(node string) string {
	for _, name := range in.Data.GroupNames() {
		// Maintenance made its addresses permanent and unguarded.
		if g := in.Data.Groups[name]; g.Holder == node && (g.Unmanaged || in.handsOff(g)) {
			return "lost unfenced: it may still run " + name + ", left alone in maintenance"
		}
	}
	exp := AddressExpiry(in.leaseEnd(node), in.guardOf(node))
	at := exp.Local().Format("15:04:05")
	if !in.due(exp) {
		return "lost unfenced: its addresses expire by " + at
	}
	return "lost unfenced: its addresses expired by " + at
}
