// Package timeline reconstructs failovers (a group leaving one node and
// starting on another) and their phases from the replicated event and
// fencing history. It is pure: the same history gives the same timeline on
// every node, so metrics and the status page need no hooks in the
// coordinator or the executor.
//
// Phases and the events that bound them:
//
//	detect  the holder's last contact with the leader (Contacts, a fact only the
//	        leader of the time knows) -> the verdict "node failed/offline"
//	decide  the cause (verdict, resource failure, standby, shutdown, operator
//	        move) -> the first action: a fence, a stop request, a release or
//	        the new assignment. After an unfenced loss this includes waiting
//	        out the lost node's lease.
//	fence   start of the first fencing attempt -> the node is committed fenced
//	stop    stop request (assign to nowhere) -> "group stopped" on the old node,
//	        or, for a lost node that was not fenced, -> the release of its hold
//	        once its lease ran out
//	start   assignment to the new node -> "group started" there
package timeline

import (
	"sort"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// Phase names, in the order they happen.
const (
	Detect = "detect"
	Decide = "decide"
	Fence  = "fence"
	Stop   = "stop"
	Start  = "start"
)

// Phases lists the phase names in order.
func Phases() []string { return []string{Detect, Decide, Fence, Stop, Start} }

// Causes of a failover.
const (
	CauseNodeFailed  = "node-failed"  // lost on both links
	CauseNodeOffline = "node-offline" // lost on the cluster link
	CauseResource    = "resource-failure"
	CauseStandby     = "standby"
	CauseShutdown    = "shutdown" // the holder's agent stopped cleanly
	CauseOperator    = "operator" // vigil resource move
	CauseFenced      = "fenced"   // fenced on purpose or after a blocked stop
	CauseOther       = "other"    // e.g. failback, a health-driven move
)

// Phase is one measured phase of a failover.
type Phase struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration is End - Start.
func (p Phase) Duration() time.Duration { return p.End.Sub(p.Start) }

// Failover is a group that stopped running on From and started on To.
type Failover struct {
	Group  string    `json:"group"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Cause  string    `json:"cause"`
	Start  time.Time `json:"start"` // the earliest phase start
	End    time.Time `json:"end"`   // started on To
	Index  uint64    `json:"index"` // raft index of the "started" event
	Phases []Phase   `json:"phases"`
}

// Duration is End - Start.
func (f Failover) Duration() time.Duration { return f.End.Sub(f.Start) }

// Contacts tells when the leader of the time last heard from node before it
// committed a verdict on it (at verdict); false when unknown.
type Contacts func(node string, verdict time.Time) (time.Time, bool)

// pending is what is known about a group since it last started somewhere.
type pending struct {
	last      string    // node it last started on
	cause     string    //
	causeAt   time.Time // when the cause happened (verdict, failure, request)
	verdictAt time.Time // node verdict on last, for detect
	stopReqAt time.Time
	stoppedAt time.Time
	releaseAt time.Time
	fencedAt  time.Time
	assignAt  time.Time // assignment to the node it then starts on
	assignTo  string
}

func (p *pending) setCause(c string, at time.Time) {
	if p.cause == "" {
		p.cause, p.causeAt = c, at
	}
}

// Build returns the failovers found in the history, oldest first. contacts
// may be nil.
func Build(events []state.Event, fences []state.FenceRecord, contacts Contacts) []Failover {
	groups := map[string]*pending{}
	get := func(g string) *pending {
		p := groups[g]
		if p == nil {
			p = &pending{}
			groups[g] = p
		}
		return p
	}
	// onNode applies a node-level event to every group last started there.
	onNode := func(node string, f func(p *pending)) {
		for _, p := range groups {
			if p.last == node && p.last != "" {
				f(p)
			}
		}
	}
	var out []Failover
	for _, e := range events {
		switch e.Kind {
		case "node-failed", "node-offline":
			cause := CauseNodeFailed
			if e.Kind == "node-offline" {
				cause = CauseNodeOffline
			}
			onNode(e.Node, func(p *pending) {
				if p.verdictAt.IsZero() {
					p.verdictAt = e.Time
				}
				p.setCause(cause, e.Time)
			})
		case "node-fenced":
			onNode(e.Node, func(p *pending) {
				p.setCause(CauseFenced, e.Time)
				p.fencedAt = e.Time
			})
		case "node-standby":
			onNode(e.Node, func(p *pending) { p.setCause(CauseStandby, e.Time) })
		case "node-leaving":
			if strings.Contains(e.Message, "shutting down") {
				onNode(e.Node, func(p *pending) { p.setCause(CauseShutdown, e.Time) })
			}
		case "resource-failed":
			if p := get(e.Group); p.last == e.Node {
				p.setCause(CauseResource, e.Time)
			}
		case "pin":
			if e.Node != "" {
				if p := get(e.Group); p.last != e.Node {
					p.setCause(CauseOperator, e.Time)
				}
			}
		case "assign":
			p := get(e.Group)
			if e.Node == "" {
				if p.stopReqAt.IsZero() {
					p.stopReqAt = e.Time
				}
			} else {
				p.assignAt, p.assignTo = e.Time, e.Node
			}
		case "group-stopped":
			if p := get(e.Group); p.last == e.Node && p.stoppedAt.IsZero() {
				p.stoppedAt = e.Time
			}
		case "group-released":
			if p := get(e.Group); p.last == e.Node && p.releaseAt.IsZero() {
				p.releaseAt = e.Time
			}
		case "group-started":
			p := get(e.Group)
			if p.last != "" && p.last != e.Node {
				out = append(out, p.failover(e, fences, contacts))
			}
			groups[e.Group] = &pending{last: e.Node}
		}
	}
	return out
}

// failover assembles the phases of a completed move ending with started.
func (p *pending) failover(started state.Event, fences []state.FenceRecord, contacts Contacts) Failover {
	f := Failover{Group: started.Group, From: p.last, To: started.Node, Cause: p.cause, End: started.Time, Index: started.Index}
	if f.Cause == "" {
		f.Cause = CauseOther
	}
	add := func(name string, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() && !to.Before(from) {
			f.Phases = append(f.Phases, Phase{Name: name, Start: from, End: to})
		}
	}
	if !p.verdictAt.IsZero() && contacts != nil {
		if at, ok := contacts(p.last, p.verdictAt); ok {
			add(Detect, at, p.verdictAt)
		}
	}
	// The fence: attempts on the old holder after the cause, up to the verdict.
	var fenceStart, fenceEnd time.Time
	for _, r := range fences {
		begin := r.Time.Add(-r.Duration)
		if r.Target != p.last || (!p.causeAt.IsZero() && begin.Before(p.causeAt.Add(-time.Second))) || r.Time.After(started.Time) {
			continue
		}
		if fenceStart.IsZero() || begin.Before(fenceStart) {
			fenceStart = begin
		}
		if r.OK && r.Time.After(fenceEnd) {
			fenceEnd = r.Time
		}
	}
	if !p.fencedAt.IsZero() {
		fenceEnd = p.fencedAt
	}
	// decide ends at the first thing done about the cause.
	first := earliest(fenceStart, p.stopReqAt, p.releaseAt, p.assignAt)
	if !p.causeAt.IsZero() && !first.IsZero() {
		add(Decide, p.causeAt, first)
	}
	add(Fence, fenceStart, fenceEnd)
	// A lost holder never reports the group stopped: without a fence, the
	// stop is over when its lease ran out and the group was released; with
	// a fence, the fence was the stop.
	stopEnd := p.stoppedAt
	if stopEnd.IsZero() && fenceStart.IsZero() && p.releaseAt.After(p.stopReqAt) {
		stopEnd = p.releaseAt
	}
	add(Stop, p.stopReqAt, stopEnd)
	if p.assignTo == started.Node {
		add(Start, p.assignAt, started.Time)
	}
	sort.SliceStable(f.Phases, func(i, j int) bool { return f.Phases[i].Start.Before(f.Phases[j].Start) })
	f.Start = started.Time
	for _, ph := range f.Phases {
		if ph.Start.Before(f.Start) {
			f.Start = ph.Start
		}
	}
	return f
}

func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}
