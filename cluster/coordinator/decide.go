package coordinator

import (
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/placement"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Input is everything a decision depends on: the configuration, the
// committed state, the leader's live observations, what it remembers of its
// term and of fences, and the clock. Decide reads it and changes nothing.
type Input struct {
	Config  *configs.Config
	Data    *state.Data
	Now     time.Time
	Links   map[string]Link              // leader's cluster-link view, by node name
	Members map[string]membership.Member // heartbeat link, by node name
	Term    Term
	// Fences is the leader's memory of fencing, by node (absent: none yet).
	Fences map[string]FenceState
	// Fenceable reports whether a node has fence devices; nil: none has.
	Fenceable func(node string) bool
	// Guards are the crash-guard parameters each node last gossiped; the
	// release deadline honours the longer of theirs and ours.
	Guards map[string]GuardParams
	// StartupMaintenance: this agent started with `maintenance = true` and
	// has not committed it yet; nothing else happens until it is.
	StartupMaintenance bool
	// Probed is when this leader last asked whether each node's host
	// answers at all (reach.go); Silent, when a probe that found it
	// answering on neither link started.
	Probed, Silent map[string]time.Time

	wake *wakeup // set by Decide; see due
}

// Term is what the leader knows about its own term of office.
type Term struct {
	Since time.Time // when this leader took office (after its Barrier)
	// PrevLeader is the leader this node followed until the election, when
	// it heard from it within a lease of taking office; PrevContact is when
	// it last did. The election is this node's own observation that the
	// previous leader was lost on the cluster link.
	PrevLeader  string
	PrevContact time.Time
	// HandedOverAt is when PrevLeader last told this node to take over
	// (the target's side of a leadership transfer, possibly long ago);
	// zero if it never did.
	HandedOverAt time.Time
}

// FenceState is the leader's memory of fencing one node.
type FenceState struct {
	InFlight bool
	Started  time.Time // of the attempt in flight
	Failures int       // failed attempts in a row
	LastErr  string
	Next     time.Time // no new attempt before (back-off after a failure)
}

// FenceRequest asks the driver to fence a node.
type FenceRequest struct {
	Node   string
	Reason string
}

// Output is one step of decisions. The driver commits Commands in order,
// starts Fences, reads the state again and asks for the next step until a
// step has no commands. Why explains the groups left as they are.
type Output struct {
	Commands []state.Command
	Fences   []FenceRequest
	Why      map[string]string
	// Probes are the nodes whose hosts the driver asks about (reach.go).
	Probes []string
	// Wake is the next instant a decision of this step can change with no
	// new event (zero: none known); the driver decides again then.
	Wake time.Time
	// Poll: a decision may also change at an instant nobody knows and no
	// event marks (unsettled); the driver looks again soon.
	Poll bool
}

// Decide returns the next step. The stages run in order and the first stage
// with commands ends the step, so that every later stage sees their effect
// in the committed state: start-up maintenance, then node verdicts (and
// leaving marks), then releases of groups whose holder is gone (and fences),
// then expiry of old failures, then placement.
func Decide(in Input) (out Output) {
	if in.wake == nil {
		in.wake = &wakeup{}
	}
	defer func() {
		out.Probes = probes(in) // first: it may name an earlier wake
		out.Poll = in.unsettled()
		out.Wake = in.wake.at
	}()
	if in.StartupMaintenance {
		if !in.Data.Maintenance {
			return Output{Commands: []state.Command{&state.SetMaintenance{On: true, Time: in.Now}}}
		}
	}
	if cmds := verdicts(in); len(cmds) > 0 {
		return Output{Commands: cmds}
	}
	out = Output{Why: map[string]string{}}
	out.Commands, out.Fences = releases(in, out.Why)
	if len(out.Commands) > 0 {
		return out
	}
	if out.Commands = expiries(in); len(out.Commands) > 0 {
		return out
	}
	acts, why := placement.Plan(placement.Input{Data: in.Data, Config: in.Config, Facts: facts(in), Now: in.Now})
	healthMoveWaits(in)
	for _, d := range why {
		if _, fence := out.Why[d.Group]; !fence {
			out.Why[d.Group] = d.Reason
		}
	}
	for _, a := range acts {
		out.Commands = append(out.Commands, &state.Assign{Group: a.Group, Node: a.Node, Reason: a.Reason, Health: a.Health, Time: in.Now})
	}
	return out
}

// expiries forgets failures older than their group's failure_timeout.
func expiries(in Input) []state.Command {
	var out []state.Command
	for _, gc := range in.Config.Groups {
		g := in.Data.Groups[gc.Name]
		if gc.FailureTimeout <= 0 || g == nil {
			continue
		}
		cut := in.Now.Add(-gc.FailureTimeout)
		for _, r := range g.Resources {
			if len(r.FailCount) > 0 && in.due(r.LastFailAt.Add(gc.FailureTimeout)) {
				out = append(out, &state.Cleanup{Group: gc.Name, Before: cut, Time: in.Now,
					Message: "fail counts of " + gc.Name + " expired (failure_timeout " + gc.FailureTimeout.String() + ")"})
				break
			}
		}
	}
	return out
}

// healthMoveWaits wakes the driver when a group's min_move_interval since
// its last health move ends: a move placement.Plan held back may be due.
func healthMoveWaits(in Input) {
	for _, gc := range in.Config.Groups {
		if g := in.Data.Groups[gc.Name]; g != nil && !g.LastHealthMove.IsZero() && gc.MinMoveInterval > 0 {
			in.due(g.LastHealthMove.Add(gc.MinMoveInterval))
		}
	}
}

// unsettled: a link that has not answered this leader, or is lost, changes
// at its next answer, which no event signals (a signal per heartbeat would
// cost more than the poll). Everything else Decide reads comes with an event
// (the store, the heartbeat link's members, a link's failure, a fence or a
// probe ending, a reload) or at a known instant (Wake).
func (in Input) unsettled() bool {
	for node := range in.Links {
		if st, _ := in.link(node); st != linkOK {
			return true
		}
	}
	return false
}
