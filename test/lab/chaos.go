package lab

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The chaos suite's plan: a seeded, pure function from (seed, steps) to the
// sequence of faults, so a failing seed replays the same sequence. Faults
// name roles (the active node, the leader...), resolved when the step starts,
// so a replay hits the same roles even if an election picked another node.

// FaultKind is one kind of fault (or admin command) the chaos suite injects.
type FaultKind string

// The fault kinds.
const (
	FaultPowerOff FaultKind = "power-off" // cables pulled, processes frozen then killed; power on at heal
	FaultSIGSTOP  FaultKind = "sigstop"   // agent frozen; thawed at heal (or powered on if fenced meanwhile)
	FaultKill9    FaultKind = "kill-9"    // agent SIGKILLed, its resources left as they are; restarted at heal
	FaultRestart  FaultKind = "restart"   // agent stopped cleanly (SIGTERM) and started again at once
	FaultLinkCut  FaultKind = "link-cut"  // one link between two nodes, both directions
	FaultOneWay   FaultKind = "link-1way" // one link, one direction only
	FaultIsolate  FaultKind = "isolate"   // one link of a node cut from every other node
	FaultSwitch   FaultKind = "switch"    // every frame between the nodes dropped on both links for Dur, then back
	AdminStandby  FaultKind = "standby"   // `vigil node standby`
	AdminOnline   FaultKind = "online"    // `vigil node online`
	AdminMove     FaultKind = "move"      // `vigil resource move` then `resource clear`
	AdminTransfer FaultKind = "transfer"  // `vigil leader transfer`
	// `vigil maintenance on`; turned off again once the step healed
	AdminMaintenance FaultKind = "maintenance"
)

const faultKindCount = 13

// FaultKinds lists every kind, in table order.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultPowerOff, FaultSIGSTOP, FaultKill9, FaultRestart, FaultLinkCut, FaultOneWay,
		FaultIsolate, FaultSwitch, AdminStandby, AdminOnline, AdminMove, AdminTransfer, AdminMaintenance}
}

// nodeFault reports whether k acts on a node's processes or power.
func (k FaultKind) nodeFault() bool {
	switch k {
	case FaultPowerOff, FaultSIGSTOP, FaultKill9, FaultRestart:
		return true
	}
	return false
}

func (k FaultKind) admin() bool {
	return k == AdminStandby || k == AdminOnline || k == AdminMove || k == AdminTransfer || k == AdminMaintenance
}

// Role names a node by what it does when the step starts.
type Role string

// The roles.
const (
	RoleActive  Role = "active"  // the resource node holding the group (n1 when none does)
	RolePassive Role = "passive" // the other resource node
	RoleWitness Role = "witness"
	RoleLeader  Role = "leader"
)

// Fault is one planned fault.
type Fault struct {
	Kind   FaultKind
	At     time.Duration // offset from the step's start
	Target Role          // node faults, admin targets, link cuts: one end
	Peer   Role          // link cuts: the other end (from Target to Peer for one-way)
	Link   string        // link cuts: Pub (the cluster link) or HB (the heartbeat link)
	Via    Role          // admin commands: the node whose API socket gets the command
	Dur    time.Duration // switch: how long the outage lasts (it ends before the step's hold)
}

func (f Fault) String() string {
	at := fmt.Sprintf("@%.1fs", f.At.Seconds())
	switch {
	case f.Kind.admin():
		return fmt.Sprintf("%s %s via %s %s", f.Kind, f.Target, f.Via, at)
	case f.Kind == FaultIsolate:
		return fmt.Sprintf("%s %s %s %s", f.Kind, f.Link, f.Target, at)
	case f.Kind == FaultLinkCut:
		return fmt.Sprintf("%s %s %s<->%s %s", f.Kind, f.Link, f.Target, f.Peer, at)
	case f.Kind == FaultOneWay:
		return fmt.Sprintf("%s %s %s->%s %s", f.Kind, f.Link, f.Target, f.Peer, at)
	case f.Kind == FaultSwitch:
		return fmt.Sprintf("%s %.2fs %s", f.Kind, f.Dur.Seconds(), at)
	}
	return fmt.Sprintf("%s %s %s", f.Kind, f.Target, at)
}

// Step is a set of faults, possibly overlapping, held until Hold and then
// healed together.
type Step struct {
	Faults []Fault // ordered by At
	Hold   time.Duration
}

func (s Step) String() string {
	var parts []string
	for _, f := range s.Faults {
		parts = append(parts, f.String())
	}
	return fmt.Sprintf("[%s] hold %.1fs", strings.Join(parts, ", "), s.Hold.Seconds())
}

// ChaosPlan returns the fault sequence for seed: steps steps of one to three
// faults each (half of the steps have more than one: overlapping faults).
// At most one node fault (power, signal, restart) per role in a step. kinds
// limits the faults to those kinds (nil: all of them); the plan is a function
// of seed, steps and kinds only.
func ChaosPlan(seed uint64, steps int, kinds []FaultKind) []Step {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nodeRoles := []Role{RoleActive, RolePassive, RoleWitness, RoleLeader}
	resRoles := []Role{RoleActive, RolePassive}
	allRoles := []Role{RoleActive, RolePassive, RoleWitness}
	links := []string{Pub, HB}
	if len(kinds) == 0 {
		kinds = FaultKinds()
	}
	plan := make([]Step, 0, steps)
	for range steps {
		var s Step
		s.Hold = time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		n := 1
		switch r := rng.IntN(100); {
		case r >= 85:
			n = 3
		case r >= 50:
			n = 2
		}
		used := map[Role]bool{}
		for tries := 0; len(s.Faults) < n && tries < 100; tries++ {
			f := Fault{Kind: kinds[rng.IntN(len(kinds))], At: time.Duration(rng.IntN(int(s.Hold/time.Millisecond)/2)) * time.Millisecond}
			switch {
			case f.Kind.nodeFault():
				f.Target = nodeRoles[rng.IntN(len(nodeRoles))]
				if used[f.Target] {
					continue
				}
				used[f.Target] = true
			case f.Kind == AdminTransfer: // leadership to any voter
				f.Target = allRoles[rng.IntN(len(allRoles))]
				f.Via = allRoles[rng.IntN(len(allRoles))]
			case f.Kind.admin():
				f.Target = resRoles[rng.IntN(len(resRoles))]
				f.Via = allRoles[rng.IntN(len(allRoles))]
			case f.Kind == FaultIsolate:
				f.Target = allRoles[rng.IntN(len(allRoles))]
				f.Link = links[rng.IntN(len(links))]
			case f.Kind == FaultSwitch:
				// A switch reboot or a spanning-tree change: 0.1 to 2 s,
				// over before the step heals the rest.
				f.Dur = min(time.Duration(100+rng.IntN(1900))*time.Millisecond, s.Hold-f.At-200*time.Millisecond)
			default: // link cuts between two distinct nodes
				i := rng.IntN(len(allRoles))
				j := (i + 1 + rng.IntN(len(allRoles)-1)) % len(allRoles)
				f.Target, f.Peer = allRoles[i], allRoles[j]
				f.Link = links[rng.IntN(len(links))]
			}
			s.Faults = append(s.Faults, f)
		}
		slices.SortStableFunc(s.Faults, func(a, b Fault) int { return int(a.At - b.At) })
		plan = append(plan, s)
	}
	return plan
}

// chaosStats is the per-fault-type table.
type chaosStats struct {
	rows map[FaultKind]*chaosRow
}

type chaosRow struct {
	injected int             // faults of this kind applied
	skipped  int             // not applied: its node already had a fault this step
	acked    int             // admin commands: acknowledged (exit 0)
	failed   int             // steps containing this kind that failed a check
	recovery []time.Duration // heal -> converged, for steps containing this kind
}

func newChaosStats() *chaosStats {
	s := &chaosStats{rows: map[FaultKind]*chaosRow{}}
	for _, k := range FaultKinds() {
		s.rows[k] = &chaosRow{}
	}
	return s
}

func (s *chaosStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-11s %8s %7s %6s %7s %9s %9s %9s\n", "fault", "injected", "skipped", "acked", "failed", "rec-min", "rec-med", "rec-max")
	for _, k := range FaultKinds() {
		r := s.rows[k]
		acked := "-"
		if k.admin() {
			acked = fmt.Sprint(r.acked)
		}
		lo, med, hi := "-", "-", "-"
		if len(r.recovery) > 0 {
			rec := slices.Clone(r.recovery)
			slices.Sort(rec)
			lo, med, hi = chaosSecs(rec[0]), chaosSecs(rec[len(rec)/2]), chaosSecs(rec[len(rec)-1])
		}
		fmt.Fprintf(&b, "%-11s %8d %7d %6s %7d %9s %9s %9s\n", k, r.injected, r.skipped, acked, r.failed, lo, med, hi)
	}
	b.WriteString("rec-*: from healing every fault of a step to a healthy cluster with the group started on exactly one eligible node\n")
	return b.String()
}

func chaosSecs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
