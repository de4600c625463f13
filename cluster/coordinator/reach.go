package coordinator

import (
	"context"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// A node lost on the cluster link may be powered off, or merely slow: its
// agent stalled, its process frozen. The lease tells them apart in time
// (a slow node renews before it ends), so a lost holder is fenced only once
// its lease ran out, or once the heartbeat link lost it too (seconds). A
// host that is off answers nothing at all, though, while a slow one's kernel
// still completes a TCP handshake for a stalled or frozen agent. So the
// leader asks when a node goes quiet (and once more when its link counts as
// lost, if the host answered): connection attempts to the node's cluster
// and heartbeat addresses (Deps.Reach), two of them with evidence between
// them that the leader's own network works (agent/reach.go: a switch blip
// swallows one attempt as well as a power cut). Both timing out on both
// links, and the leader still holding its own lease afterwards, is the
// evidence: the node has failed, and is fenced at once instead of at its
// lease end. A refused or reset connection, a local error, or any answer
// is no such evidence: the lease decides, as before.

// ReachFunc reports whether node's host answered on neither of its links
// within the probe's time (true), or whether that is not known (false).
type ReachFunc func(ctx context.Context, node string) (silent bool)

// reachResult is one probe's outcome.
type reachResult struct {
	node    string
	started time.Time
	silent  bool
}

// probes are the nodes to ask now: fenceable, quiet on the cluster link
// (lost, or no answer for probeAfter), not yet found silent, and not asked
// since their last sign of life there; once lost, asked again if the last
// ask came before (the host answered it while quiet, then lost its power).
func probes(in Input) []string {
	if in.Fenceable == nil {
		return nil
	}
	var out []string
	for _, n := range in.Config.Nodes {
		if n.Name == in.Config.NodeName || !in.Fenceable(n.Name) {
			continue
		}
		if cur := in.Data.Nodes[n.Name]; cur != nil && cur.Status == state.NodeFenced {
			continue
		}
		st, l := in.link(n.Name)
		quiet := st == linkLost || st == linkOK && !l.Last.IsZero() && in.due(l.Last.Add(in.probeAfter()))
		if !quiet || in.silent(n.Name, l.Since) {
			continue
		}
		at, ok := in.Probed[n.Name]
		if ok && at.After(l.Since) && (st != linkLost || !at.Before(l.Since.Add(in.staleAfter()))) {
			continue
		}
		out = append(out, n.Name)
	}
	return out
}

// probeAfter is how long a node may go without an answer on the cluster
// link before it is asked about: two fifths of staleAfter (fast 40 ms, at
// least two raft heartbeats missed). A silent answer makes the link lost
// there and then (link), so a powered-off node is failed, and fenced, at
// probeAfter plus the probe's timeout (fast 60 ms) instead of staleAfter
// plus nothing: an answer, a refusal or a starved probe leaves it to
// staleAfter and the lease, as before.
func (in Input) probeAfter() time.Duration { return in.staleAfter() * 2 / 5 }

// silent reports whether a probe started after node's last sign of life on
// the cluster link (since) found its host answering on neither link.
func (in Input) silent(node string, since time.Time) bool {
	at, ok := in.Silent[node]
	return ok && at.After(since)
}

// startProbe asks about a node in the background; the result arrives in the
// loop (lead).
func (c *Coordinator) startProbe(ctx context.Context, node string) {
	if c.d.Reach == nil {
		return
	}
	now := c.d.Now()
	c.probed[node] = now
	done := c.reachDone
	go func() {
		r := reachResult{node: node, started: now, silent: c.d.Reach(ctx, node)}
		select {
		case done <- r:
		case <-ctx.Done(): // the term ended: nobody reads it
		}
	}()
}

// noteProbe records a probe's outcome.
func (c *Coordinator) noteProbe(r reachResult) {
	if r.silent {
		c.d.Logger.Info("host answers on neither link", "node", r.node)
		c.silent[r.node] = r.started
	}
}
