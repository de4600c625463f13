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
// lost, if the host answered): a connection attempt to the node's cluster
// and heartbeat addresses (Deps.Reach). Both timing out, and the leader still
// holding its own lease afterwards (its network reached a quorum meanwhile),
// is the evidence: the node has failed, and is fenced at once instead of at
// its lease end. A refused or reset connection, a local error, or any answer
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
// (lost, or no answer for half the time that makes it lost: the answer is
// in by the time the link counts as lost), and not asked since their last
// sign of life there; once lost, asked again if the last ask came before
// (the host answered it half-way, then lost its power).
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
		quiet := st == linkLost || st == linkOK && !l.Last.IsZero() && in.due(l.Last.Add(in.staleAfter()/2))
		if !quiet {
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
