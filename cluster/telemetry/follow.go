package telemetry

import (
	"context"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/timeline"
)

// defaultSampleEvery is how often Follow notes when other nodes were last
// heard from, unless Deps says (see SampleEvery).
const defaultSampleEvery = 100 * time.Millisecond

// Follow counts failovers and fencing attempts as they enter the replicated
// history, until ctx ends. Only those that ended after Follow started count:
// on a restart raft replays history that a previous run already counted.
func (m *Metrics) Follow(ctx context.Context) error {
	started := m.d.Now()
	var lastEvent, lastFailover uint64
	lastFence := started
	tick := time.NewTicker(m.d.SampleEvery)
	defer tick.Stop()
	done := uint64(0) // state index already processed
	for {
		m.sample()
		watch := m.d.Store.Watch()
		data := m.d.Store.Read()
		if data.Index == done && done != 0 {
			select { // the tick only samples contacts; nothing new to count
			case <-ctx.Done():
				return nil
			case <-watch:
			case <-tick.C:
			}
			continue
		}
		done = data.Index
		lastEvent = m.noteVerdicts(data.Events, lastEvent)
		for _, r := range data.Fencing {
			if !r.Time.After(lastFence) {
				continue
			}
			lastFence = r.Time
			res := "ok"
			if !r.OK {
				res = "failed"
			}
			m.fenceAttempts.WithLabelValues(r.Target, r.Device, res).Inc()
			m.fenceDur.WithLabelValues(r.Device, res).Observe(r.Duration.Seconds())
		}
		for _, f := range timeline.Build(data.Events, data.Fencing, m.contact) {
			if f.Index <= lastFailover || !f.End.After(started) {
				continue
			}
			lastFailover = f.Index
			m.failovers.WithLabelValues(f.Group, f.Cause).Inc()
			m.failoverDur.WithLabelValues(f.Cause).Observe(f.Duration().Seconds())
			for _, p := range f.Phases {
				m.phaseDur.WithLabelValues(p.Name).Observe(p.Duration().Seconds())
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-watch:
		case <-tick.C:
		}
	}
}

// sample remembers when each node this node watches was last heard from.
// A node it stopped watching for a while (not the leader any more) starts
// over: what it knew then says nothing about the contact since.
func (m *Metrics) sample() {
	if m.d.Contacts == nil {
		return
	}
	c := m.d.Contacts()
	now := m.d.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, t := range c {
		if now.Sub(m.observed[n]) > m.watchGap() {
			delete(m.lastSeen, n)
		}
		m.observed[n] = now
		if t.After(m.lastSeen[n]) {
			m.lastSeen[n] = t
		}
	}
}

// watchGap is how long a node may go unwatched before its last contact
// is no longer known.
func (m *Metrics) watchGap() time.Duration { return 3 * m.d.SampleEvery }

// noteVerdicts pins, for each new "node failed/offline" verdict, the last
// contact this node had with the lost node: the start of its detect phase.
func (m *Metrics) noteVerdicts(events []state.Event, after uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		if e.Index <= after {
			continue
		}
		after = e.Index
		if e.Kind != "node-failed" && e.Kind != "node-offline" {
			continue
		}
		// Only a node watched right up to the verdict has a known last contact.
		if t, ok := m.lastSeen[e.Node]; ok && !t.After(e.Time) && !m.observed[e.Node].Before(e.Time.Add(-m.watchGap())) {
			m.contacts[contactKey{e.Node, e.Time.UnixNano()}] = t
		}
	}
	if len(m.contacts) > 1000 {
		clear(m.contacts) // bounded; only detect bars of old failovers go
	}
	return after
}
