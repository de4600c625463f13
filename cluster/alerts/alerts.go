// Package alerts runs the configured alert hooks (like Pacemaker alert agents
// or keepalived notify scripts) for cluster events: node, group, resource and
// fence events from the replicated history, and this node becoming leader.
//
// Hooks never hold up the cluster: events are read from the committed
// history by their own goroutine and queued per alert; each alert runs its
// hook for one event at a time, in order, under a timeout. A full queue
// drops the event (counted and logged) instead of waiting.
//
// The leader runs the hooks, so that each event is announced once, not by
// every node. A new leader announces the events from the moment it last
// heard from the old one: an event the old leader announced just before it
// was lost may be announced twice, none is skipped.
package alerts

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Event is one thing a hook is told about.
type Event struct {
	Kind     string // node | group | resource | fence | leader
	Name     string // the history's event kind: node-failed, group-started, fence, leader...
	Node     string
	Group    string
	Message  string
	Result   string // fence: ok | failed; group-started...: the group's state
	Time     time.Time
	Sequence uint64 // raft index of the event (0 for leader events)
}

// Store is the replicated state.
type Store interface {
	Read() *state.Data
	Watch() <-chan struct{}
}

// Recorder counts hook runs (the telemetry package implements it).
type Recorder interface {
	AlertRan(alert, result string, d time.Duration)
	AlertDropped(alert string)
}

// Deps are the dispatcher's collaborators.
type Deps struct {
	Alerts   []configs.Alert
	Store    Store
	IsLeader func() bool
	Term     func() uint64
	// LastLeaderContact is when this node last heard from the leader.
	LastLeaderContact func() time.Time
	Cluster, Node     string
	Recorder          Recorder // may be nil
	Logger            hclog.Logger
	Now               func() time.Time
}

// queueLen bounds each alert's backlog.
const queueLen = 256

// pollEvery is how often leadership is checked when nothing is committed.
const pollEvery = 100 * time.Millisecond

// Dispatcher feeds events to the alert hooks.
type Dispatcher struct {
	d Deps

	mu      sync.Mutex
	hooks   *hookSet      // replaced by SetAlerts (reload.go)
	changed chan struct{} // SetAlerts wakes Run
}

// New builds a dispatcher; Run starts it.
func New(d Deps) *Dispatcher {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	x := &Dispatcher{d: d, changed: make(chan struct{}, 1)}
	x.hooks = newHookSet(d.Alerts)
	return x
}

// Run follows the history and runs the hooks until ctx ends. Hooks still
// running then are killed.
func (x *Dispatcher) Run(ctx context.Context) error {
	if !x.waitForAlerts(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { x.workers(ctx) })
	x.follow(ctx)
	wg.Wait()
	return nil
}

// follow turns committed events into hook events while this node leads.
func (x *Dispatcher) follow(ctx context.Context) {
	leading := false
	var cursor uint64
	var heard time.Time // last contact with the leader while following
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		watch := x.d.Store.Watch()
		data := x.d.Store.Read()
		now := x.d.Now()
		switch lead := x.d.IsLeader(); {
		case lead && !leading:
			leading = true
			// Take over from the moment the old leader was last heard of.
			cursor = 0
			for _, e := range data.Events {
				if !heard.IsZero() && e.Time.Before(heard) || heard.IsZero() && e.Time.Before(now) {
					cursor = e.Index
				}
			}
			var term uint64
			if x.d.Term != nil {
				term = x.d.Term()
			}
			x.enqueue(Event{Kind: "leader", Name: "leader", Node: x.d.Node, Time: now,
				Message: "node " + x.d.Node + " became the cluster leader (term " + strconv.FormatUint(term, 10) + ")"})
		case !lead:
			leading = false
			if x.d.LastLeaderContact != nil {
				if t := x.d.LastLeaderContact(); t.After(heard) {
					heard = t
				}
			}
		}
		if leading {
			for _, e := range data.Events {
				if e.Index <= cursor {
					continue
				}
				cursor = e.Index
				x.enqueue(fromState(e))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-watch:
		case <-tick.C:
		}
	}
}

// enqueue hands ev to every alert that wants its kind, never waiting.
func (x *Dispatcher) enqueue(ev Event) {
	h := x.current()
	for i, a := range h.alerts {
		if !wants(a, ev.Kind) {
			continue
		}
		select {
		case h.queues[i] <- ev:
		default:
			x.d.Logger.Warn("alert queue full: event dropped", "alert", a.Name, "event", ev.Name, "message", ev.Message)
			if x.d.Recorder != nil {
				x.d.Recorder.AlertDropped(a.Name)
			}
		}
	}
}

func wants(a configs.Alert, kind string) bool {
	for _, k := range a.Events {
		if k == kind {
			return true
		}
	}
	return false
}

// fromState classifies a history event.
func fromState(e state.Event) Event {
	ev := Event{Name: e.Kind, Node: e.Node, Group: e.Group, Message: e.Message, Time: e.Time, Sequence: e.Index}
	switch {
	case e.Kind == "fence":
		ev.Kind, ev.Result = "fence", "ok"
		if strings.Contains(e.Message, " failed: ") {
			ev.Result = "failed"
		}
	case strings.HasPrefix(e.Kind, "node-"):
		ev.Kind = "node"
		ev.Result = strings.TrimPrefix(e.Kind, "node-")
	case e.Kind == "resource-failed" || e.Kind == "cleanup":
		ev.Kind = "resource"
	case strings.HasPrefix(e.Kind, "group-"):
		ev.Kind = "group"
		ev.Result = strings.TrimPrefix(e.Kind, "group-")
	case e.Group != "":
		ev.Kind = "group"
	default:
		ev.Kind = "node"
	}
	return ev
}
