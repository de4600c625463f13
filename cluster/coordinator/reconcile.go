package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/placement"
	"github.com/vigil-ha/vigil/cluster/state"
)

// reconcile commits node verdicts, releases groups whose holder is provably
// gone, and applies the placement plan.
func (c *Coordinator) reconcile(ctx context.Context) error {
	now := c.d.Now()
	members := map[string]membership.Member{}
	for _, m := range c.d.Members() {
		members[m.Name] = m
	}
	links := c.d.Links()

	c.noteGuards(members)
	data := c.d.Store.Read()
	for _, n := range c.d.Config.Nodes {
		st, why := c.judge(n.Name, members, links, now, data.Nodes[n.Name])
		unfenced := st == state.NodeFailed && !n.Witness && (c.d.Fencer == nil || !c.d.Fencer.Configured(n.Name))
		if unfenced {
			why = c.unfenced(n.Name, links, now)
		}
		if cur := data.Nodes[n.Name]; cur == nil || cur.Status != st || unfenced && cur.Reason != why {
			if err := c.apply(&state.SetNodeStatus{Node: n.Name, Status: st, Reason: why, Time: now}); err != nil {
				return err
			}
		}
	}

	data = c.d.Store.Read()
	c.fenceWait = map[string]string{}
	for _, name := range data.GroupNames() {
		if err := c.release(ctx, data, data.Groups[name], links, now); err != nil {
			return err
		}
	}

	data = c.d.Store.Read()
	if err := c.expireFailures(data, now); err != nil {
		return err
	}
	acts, why := placement.Plan(placement.Input{Data: data, Config: c.d.Config, Facts: c.facts(members), Now: now})
	c.publish(why)
	for _, a := range acts {
		err := c.apply(&state.Assign{Group: a.Group, Node: a.Node, Reason: a.Reason, Health: a.Health, Time: now})
		if err != nil && !errors.Is(err, state.ErrHeld) {
			return err
		}
	}
	return nil
}

// judge decides a node's state from the two independent signals (DESIGN.md
// invariant 6): a node has failed only when both the heartbeat link and the
// cluster link lost it. The cluster link alone lost: offline (its lease runs
// out, nothing is fenced). The heartbeat link alone lost: still online, and
// status shows a warning.
func (c *Coordinator) judge(name string, members map[string]membership.Member, links map[string]Link, now time.Time, cur *state.Node) (string, string) {
	if name == c.d.Config.NodeName {
		return state.NodeOnline, ""
	}
	link, known := links[name]
	if !known {
		link = Link{OK: true}
	}
	if link.OK {
		c.prevContact[name] = now
	}
	m, seen := members[name]
	hbLost := !seen || m.State == membership.StateDead || m.State == membership.StateLeft
	// A fenced node stays fenced until it is back on both links, and on the
	// heartbeat link since the fence: right after a fence (on purpose, of a
	// node not yet seen lost) both links still look up for a moment.
	if cur != nil && cur.Status == state.NodeFenced &&
		!(link.OK && seen && m.State == membership.StateAlive && m.Since.After(cur.Since)) {
		return state.NodeFenced, cur.Reason
	}
	switch {
	case !link.OK && hbLost && seen && m.State == membership.StateLeft:
		return state.NodeOffline, "left the cluster"
	case !link.OK && hbLost && (cur == nil || cur.Status == "" || cur.Status == state.NodeOffline && cur.Reason == "never joined"):
		return state.NodeOffline, "never joined"
	case !link.OK && hbLost:
		return state.NodeFailed, "lost on the heartbeat and cluster links"
	case !link.OK:
		return state.NodeOffline, "cluster link lost (heartbeat link still up)"
	case !seen || m.State != membership.StateAlive && m.State != membership.StateSuspect:
		// Link up but never heard on the heartbeat link: up, with a warning.
		return state.NodeOnline, ""
	}
	return state.NodeOnline, ""
}

// lastContact is when the leader last heard from node on the cluster link.
func (c *Coordinator) lastContact(node string, links map[string]Link) time.Time {
	t := c.prevContact[node]
	if l, ok := links[node]; ok && !l.OK && !l.Since.IsZero() && l.Since.After(c.since) && l.Since.Before(t) {
		t = l.Since
	}
	return t
}

// release frees a group held by a node that is no longer in the cluster, once
// it is safe: the node was fenced (confirmed off), or its lease provably ran
// out. With fencing configured for the node, the group waits for the fence
// and is never started elsewhere unfenced (invariant 2).
func (c *Coordinator) release(ctx context.Context, data *state.Data, g *state.Group, links map[string]Link, now time.Time) error {
	h := g.Holder
	if h == "" {
		return nil
	}
	n := data.Nodes[h]
	if n != nil && n.Status == state.NodeOnline && g.State == state.GroupBlocked && !g.Maintenance && !data.Maintenance &&
		c.d.Fencer != nil && c.d.Fencer.Configured(h) && h != c.d.Config.NodeName {
		// A stop that failed (or on_fail = fence): the only way to be sure the
		// group is down is to power its node off.
		c.startFence(ctx, h, fmt.Sprintf("group %s blocked on %s: %s", g.Name, h, g.Reason))
		return nil
	}
	if n == nil || n.Status == state.NodeOnline {
		return nil
	}
	if n.Status == state.NodeFenced {
		return c.apply(&state.ClearHolder{Group: g.Name, Node: h, Reason: h + " was fenced", Time: now})
	}
	lease := c.d.Config.Cluster.Timing.Lease
	if c.d.Fencer != nil && c.d.Fencer.Configured(h) {
		switch {
		case n.Status == state.NodeFailed:
			c.startFence(ctx, h, fmt.Sprintf("%s lost while holding %s", h, g.Name))
		case c.leaseEnd(h, links).Before(now):
			// Cut off on the cluster link only (its heartbeat may still
			// arrive through another member): without a fence the group
			// would wait forever, and an agent that is merely slow to be
			// declared dead (frozen) cannot be trusted to have stopped.
			c.startFence(ctx, h, fmt.Sprintf("%s holds %s and is %s (%s); its lease ran out", h, g.Name, n.Status, n.Reason))
		}
		why := "waiting for " + h + " to be fenced; not started elsewhere until then"
		if at, ok := c.fenceStart[h]; ok {
			why += fmt.Sprintf(" (fencing in progress for %s)", now.Sub(at).Round(100*time.Millisecond))
		}
		if err := c.fenceErr[h]; err != nil {
			why += "; last fencing attempt failed: " + err.Error()
		}
		c.fenceWait[g.Name] = why
		return nil
	}
	if now.Before(c.leaseEnd(h, links)) {
		return nil
	}
	return c.apply(&state.ClearHolder{Group: g.Name, Node: h,
		Reason: fmt.Sprintf("%s is %s and its lease (%s) ran out", h, n.Status, lease), Time: now})
}

// leaseEnd is when node's lease to run resources has provably run out, as
// far as this leader can tell.
func (c *Coordinator) leaseEnd(node string, links map[string]Link) time.Time {
	t := c.guardOf(node) // the deadline its own guard enforces (DESIGN.md invariant 7)
	end := c.lastContact(node, links).Add(t.Lease + 2*tick)
	if l, ok := links[node]; ok && node == c.prevLeader && !l.OK && !l.LastContact.IsZero() && !l.LastContact.After(c.since) {
		// The node led before us and has not answered us since we were
		// elected. Our election needed a majority that had not heard from it
		// for a whole heartbeat timeout (raft refuses votes while a leader is
		// known), so it lost quorum contact before, stepped down within its
		// leader lease, and with leadership lost its lease to run resources;
		// it can run them again only after hearing from us.
		if d := c.since.Add(t.LeaderLease + 2*tick); d.Before(end) {
			end = d
		}
	}
	return end
}

// startFence fences a node in the background; the result arrives in the loop.
func (c *Coordinator) startFence(ctx context.Context, node, reason string) {
	if c.fencing[node] || node == c.d.Config.NodeName {
		return
	}
	c.fencing[node] = true
	c.fenceStart[node] = c.d.Now()
	done := c.fenceDone
	go func() {
		err := c.d.Fencer.Fence(ctx, node, reason)
		if err != nil {
			c.d.Logger.Error("fencing failed; its groups stay stopped", "node", node, "error", err)
			time.Sleep(time.Second) // back-off before the loop tries again
		}
		done <- fenceResult{node: node, err: err}
	}()
}

// expireFailures forgets failures older than the group's failure_timeout.
func (c *Coordinator) expireFailures(data *state.Data, now time.Time) error {
	for _, gc := range c.d.Config.Groups {
		g := data.Groups[gc.Name]
		if gc.FailureTimeout <= 0 || g == nil {
			continue
		}
		cut := now.Add(-gc.FailureTimeout)
		for _, r := range g.Resources {
			if len(r.FailCount) > 0 && r.LastFailAt.Before(cut) {
				return c.apply(&state.Cleanup{Group: gc.Name, Before: cut, Time: now,
					Message: fmt.Sprintf("fail counts of %s expired (failure_timeout %s)", gc.Name, gc.FailureTimeout)})
			}
		}
	}
	return nil
}

// FailingPrefix marks node metadata entries naming a group's failing checks
// ("failing.web" = "site,backend").
const FailingPrefix = "failing."

// facts reads health results from each node's gossiped metadata.
func (c *Coordinator) facts(members map[string]membership.Member) placement.Facts {
	f := placement.Facts{Healthy: map[string]map[string]bool{}, NodeHealthy: map[string]bool{},
		Failing: map[string]map[string]string{}}
	for name, m := range members {
		if m.State == membership.StateDead || m.State == membership.StateLeft {
			continue // its last word on health is stale
		}
		for k, v := range m.Meta.Extra {
			if grp, ok := strings.CutPrefix(k, FailingPrefix); ok {
				if f.Failing[name] == nil {
					f.Failing[name] = map[string]string{}
				}
				f.Failing[name][grp] = v
			}
		}
		for grp, ok := range m.Meta.Health {
			if grp == "" {
				f.NodeHealthy[name] = ok
				continue
			}
			if f.Healthy[name] == nil {
				f.Healthy[name] = map[string]bool{}
			}
			f.Healthy[name][grp] = ok
		}
	}
	return f
}
