// Package state is vigil's replicated state machine: the facts and decisions
// every node agrees on (node standby flags and states, where each group runs,
// fail counts, fencing and event history). It performs no I/O in Apply; time
// comes inside the commands, set by whoever proposed them, so that every
// replica computes the same result.
package state

import (
	"sort"
	"time"
)

// Node states as committed by the leader's coordinator. Apply refuses any
// other value (limits.go: a new state must be added there too).
const (
	NodeOnline  = "online"
	NodeOffline = "offline" // lost on the cluster link (its lease runs out), not fenced
	NodeFailed  = "failed"  // lost on both links; fencing (when configured) is due
	NodeFenced  = "fenced"  // fenced and confirmed off
)

// Group states as reported by the node that holds the group. Apply refuses
// any other value (limits.go: a new state must be added there too).
const (
	GroupStopped  = "stopped"
	GroupStarting = "starting"
	GroupStarted  = "started"
	GroupStopping = "stopping"
	GroupFailed   = "failed"  // a resource failed and is being handled
	GroupBlocked  = "blocked" // a stop failed and cannot be escalated: hands off until cleanup
)

// Node is the replicated view of one cluster member.
type Node struct {
	Name    string    `json:"name"`
	Standby bool      `json:"standby"`
	Leaving bool      `json:"leaving,omitempty"` // clean shutdown in progress
	Status  string    `json:"status"`            // online | offline | failed | fenced ("" = never seen)
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason,omitempty"`

	// LeavingSince is when the node set Leaving (its own clock): an agent
	// started after it is a new incarnation, and the leader clears the mark.
	LeavingSince time.Time `json:"leaving_since,omitempty"`
	// LeavingBoot is the start time the agent that set the mark gossiped:
	// an agent gossiping another one is a new incarnation, whatever the
	// clocks say ("" for a mark by an earlier version: LeavingSince decides).
	LeavingBoot string `json:"leaving_boot,omitempty"`
	// FencedBoot is the start time its agent gossiped when it was fenced:
	// an agent with another one has rebooted since (no stale observation).
	FencedBoot string `json:"fenced_boot,omitempty"`
}

// Resource holds the replicated bookkeeping for one resource of a group.
type Resource struct {
	FailCount   map[string]int `json:"fail_count,omitempty"` // per node
	LastFailure string         `json:"last_failure,omitempty"`
	LastFailAt  time.Time      `json:"last_fail_at,omitempty"`
	LastFailOn  string         `json:"last_fail_on,omitempty"`
}

// Group is where a group should run and who may be running it.
//
// Node is the target. Holder is the node that may have the group (partly)
// active: it is set together with Node and cleared only when the holder
// reports the group stopped, is fenced, or provably lost its lease. A group is
// assigned to a new node only while Holder is empty or already that node: this
// is invariant 2 (never start before the previous holder is known stopped).
type Group struct {
	Name        string `json:"name"`
	Node        string `json:"node,omitempty"`
	Holder      string `json:"holder,omitempty"`
	Epoch       uint64 `json:"epoch"`          // bumped on every assignment
	Last        string `json:"last,omitempty"` // last node it was assigned to (counts moves)
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	Maintenance bool   `json:"maintenance,omitempty"`
	// Unmanaged: maintenance (cluster or group) began while Holder held the
	// group, and Holder has not reported about it since maintenance ended.
	// In maintenance a holder leaves its resources running whatever happens
	// to its lease (and the crash guard leaves its addresses alone), so
	// until it reports again a lapsed lease is no evidence that it stopped.
	Unmanaged   bool      `json:"unmanaged,omitempty"`
	MovedTo     string    `json:"moved_to,omitempty"` // `vigil resource move` pin, cleared by `clear`
	LastMove    time.Time `json:"last_move,omitempty"`
	Moves       int       `json:"moves"`
	HealthMoves int       `json:"health_moves"`
	// LastHealthMove rate-limits health-driven moves (min_move_interval).
	LastHealthMove time.Time            `json:"last_health_move,omitempty"`
	Restarts       uint64               `json:"restarts,omitempty"` // bumped by `vigil resource restart`
	Resources      map[string]*Resource `json:"resources,omitempty"`
}

// FenceRecord is one fencing attempt in the replicated history.
type FenceRecord struct {
	Time     time.Time     `json:"time"`
	Target   string        `json:"target"`
	Device   string        `json:"device"`
	Reason   string        `json:"reason"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
}

// Event is one entry of the cluster history.
type Event struct {
	Index   uint64    `json:"index"` // raft index that recorded it
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Node    string    `json:"node,omitempty"`
	Group   string    `json:"group,omitempty"`
	Message string    `json:"message"`
}

// History bounds: old entries are dropped first.
const (
	maxEvents = 1000
	maxFences = 200
)

// Data is the whole replicated state. It is what snapshots contain.
type Data struct {
	Nodes       map[string]*Node  `json:"nodes"`
	Groups      map[string]*Group `json:"groups"`
	Maintenance bool              `json:"maintenance"`
	Events      []Event           `json:"events"`
	Fencing     []FenceRecord     `json:"fencing"`
	Index       uint64            `json:"index"` // last applied raft index
	// Defined is the group list the leader committed (DefineGroups); nil
	// until then, when each replica checks names against its own config.
	Defined map[string][]string `json:"defined,omitempty"`
}

func newData() *Data {
	return &Data{Nodes: map[string]*Node{}, Groups: map[string]*Group{}}
}

// node returns the named node, creating its record on first mention.
func (d *Data) node(name string) *Node {
	n, ok := d.Nodes[name]
	if !ok {
		n = &Node{Name: name}
		d.Nodes[name] = n
	}
	return n
}

// group returns the named group, creating its record on first mention.
func (d *Data) group(name string) *Group {
	g, ok := d.Groups[name]
	if !ok {
		g = &Group{Name: name, State: GroupStopped}
		d.Groups[name] = g
	}
	return g
}

// HandsOff reports whether the cluster leaves group alone: maintenance
// cluster-wide, for the group by command, or in the group's configuration
// (configured). Nothing in it is started, stopped, released or fenced for.
func (d *Data) HandsOff(group string, configured bool) bool {
	if d.Maintenance || configured {
		return true
	}
	g := d.Groups[group]
	return g != nil && g.Maintenance
}

func (g *Group) resource(name string) *Resource {
	if g.Resources == nil {
		g.Resources = map[string]*Resource{}
	}
	r, ok := g.Resources[name]
	if !ok {
		r = &Resource{}
		g.Resources[name] = r
	}
	return r
}

// FailCount is the failure count of the group's resources on node.
func (g *Group) FailCount(node string) int {
	total := 0
	for _, r := range g.Resources {
		total += r.FailCount[node]
	}
	return total
}

func (d *Data) event(idx uint64, t time.Time, kind, node, group, msg string) {
	d.Events = append(d.Events, Event{Index: idx, Time: t, Kind: kind, Node: node, Group: group, Message: cut(msg, 2*maxText)})
	if len(d.Events) > maxEvents {
		d.Events = append([]Event(nil), d.Events[len(d.Events)-maxEvents:]...)
	}
}

// Clone returns a copy that readers may keep while Apply goes on: everything
// is copied except the append-only histories, which are shared and must be
// treated as read-only.
func (d *Data) Clone() *Data {
	c := &Data{
		Nodes:       make(map[string]*Node, len(d.Nodes)),
		Groups:      make(map[string]*Group, len(d.Groups)),
		Maintenance: d.Maintenance,
		// The histories are append-only and their entries never change, so a
		// copy can share them: capped at their length, an append by either side
		// reallocates instead of writing into the other's view. This keeps
		// Read cheap for the executor and coordinator, which read every tick.
		Events:  d.Events[:len(d.Events):len(d.Events)],
		Fencing: d.Fencing[:len(d.Fencing):len(d.Fencing)],
		Index:   d.Index,
		Defined: cloneDefined(d.Defined),
	}
	for k, n := range d.Nodes {
		nn := *n
		c.Nodes[k] = &nn
	}
	for k, g := range d.Groups {
		gg := *g
		gg.Resources = make(map[string]*Resource, len(g.Resources))
		for rk, r := range g.Resources {
			rr := *r
			rr.FailCount = make(map[string]int, len(r.FailCount))
			for nk, v := range r.FailCount {
				rr.FailCount[nk] = v
			}
			gg.Resources[rk] = &rr
		}
		c.Groups[k] = &gg
	}
	return c
}

// GroupNames returns the group names in sorted order.
func (d *Data) GroupNames() []string {
	names := make([]string, 0, len(d.Groups))
	for n := range d.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
