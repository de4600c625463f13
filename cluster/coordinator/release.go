package coordinator

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// releases frees groups held by nodes that are no longer in the cluster, once
// it is safe: the node was fenced (confirmed off), or its lease provably ran
// out. With fencing configured for a node seen since this leader took office,
// its groups wait for the fence and are never started elsewhere unfenced
// (invariant 2). why gets the reason of every group waiting for a fence.
func releases(in Input, why map[string]string) ([]state.Command, []FenceRequest) {
	var cmds []state.Command
	var fences []FenceRequest
	fence := func(node, reason string) {
		for _, f := range fences {
			if f.Node == node {
				return
			}
		}
		if in.mayFence(node) {
			fences = append(fences, FenceRequest{Node: node, Reason: reason})
		}
	}
	for _, name := range in.Data.GroupNames() {
		g := in.Data.Groups[name]
		h := g.Holder
		if h == "" {
			continue
		}
		n := in.Data.Nodes[h]
		fenceable := in.Fenceable != nil && in.Fenceable(h) && h != in.Config.NodeName
		if n != nil && n.Status == state.NodeOnline && g.State == state.GroupBlocked && !in.handsOff(g) && fenceable {
			// A stop that failed (or on_fail = fence): the only way to be sure
			// the group is down is to power its node off.
			fence(h, fmt.Sprintf("group %s blocked on %s: %s", g.Name, h, g.Reason))
			continue
		}
		if n == nil || n.Status == state.NodeOnline {
			continue
		}
		if n.Status == state.NodeFenced {
			cmds = append(cmds, &state.ClearHolder{Group: g.Name, Node: h, Reason: h + " was fenced", Time: in.Now})
			continue
		}
		if in.handsOff(g) {
			// In maintenance its holder leaves it running whatever happens
			// to its lease: only a fence (above) would prove it stopped.
			// Maintenance by command marked the group unmanaged, so that it
			// also waits for its holder once maintenance ends; maintenance
			// by configuration is no replicated state: the leader marks it.
			if !g.Unmanaged {
				cmds = append(cmds, &state.MarkUnmanaged{Group: g.Name, Node: h, Time: in.Now,
					Reason: fmt.Sprintf("%s is %s while %s is in maintenance; it keeps the group until it reports again or is fenced", h, n.Status, g.Name)})
			}
			continue
		}
		end := in.leaseEnd(h)
		switch {
		case fenceable && in.seen(h):
			switch {
			case n.Status == state.NodeFailed:
				fence(h, fmt.Sprintf("%s lost while holding %s", h, g.Name))
			case in.due(end):
				// Cut off on the cluster link only (its heartbeat may still
				// arrive through another member): without a fence the group
				// would wait forever, and an agent that is merely slow to be
				// declared dead (frozen) cannot be trusted to have stopped.
				fence(h, fmt.Sprintf("%s holds %s and is %s (%s); its lease ran out", h, g.Name, n.Status, n.Reason))
			}
			why[g.Name] = in.fenceWait(h)
		case !in.due(end):
		case g.Unmanaged:
			// Left running in maintenance, and not heard from since it
			// ended: it may never have learnt that it should stop.
			why[g.Name] = fmt.Sprintf("%s kept %s running in maintenance and has not reported since maintenance ended; "+
				"waiting for %s to come back, or to be fenced (`vigil fence %s`, or `vigil fence -confirm %s` once it is surely off)", h, g.Name, h, h, h)
		case fenceable:
			// Never seen by this leader: never fenced (invariant 7). Its
			// lease ended by our election plus a lease, and the guard
			// removes its addresses by then even if its agent is stuck.
			cmds = append(cmds, &state.ClearHolder{Group: g.Name, Node: h, Time: in.Now,
				Reason: fmt.Sprintf("%s has not been seen since %s became leader and its lease (%s) ran out; not fenced",
					h, in.Config.NodeName, in.Config.Cluster.Timing.Lease)})
		default:
			cmds = append(cmds, &state.ClearHolder{Group: g.Name, Node: h, Time: in.Now,
				Reason: fmt.Sprintf("%s is %s and its lease (%s) ran out", h, n.Status, in.Config.Cluster.Timing.Lease)})
		}
	}
	return cmds, fences
}

// handsOff reports whether g is in maintenance (cluster-wide, by command, or
// in this leader's config).
func (in Input) handsOff(g *state.Group) bool {
	configured := false
	for _, gc := range in.Config.Groups {
		if gc.Name == g.Name {
			configured = gc.Maintenance
		}
	}
	return in.Data.HandsOff(g.Name, configured)
}

// mayFence: no attempt in flight and the back-off after a failure is over.
func (in Input) mayFence(node string) bool {
	f := in.Fences[node]
	return !f.InFlight && in.due(f.Next)
}

// fenceWait explains a group waiting for its holder's fence.
func (in Input) fenceWait(node string) string {
	why := "waiting for " + node + " to be fenced; not started elsewhere until then"
	f := in.Fences[node]
	if f.InFlight {
		why += fmt.Sprintf(" (fencing in progress for %s)", in.Now.Sub(f.Started).Round(100*time.Millisecond))
	}
	if f.LastErr != "" {
		why += fmt.Sprintf("; last fencing attempt failed (%d in a row): %s", f.Failures, f.LastErr)
		if !f.InFlight && in.Now.Before(f.Next) {
			why += fmt.Sprintf("; next attempt in %s", f.Next.Sub(in.Now).Round(100*time.Millisecond))
		}
	}
	return why
}

// lastContact is the latest base a lost node's lease may have: when its
// last renewal reached this leader (Link.Renewed; a link the driver does not
// time counts from its last evidence, Since). Until proven otherwise a peer
// may have renewed with the old leader right up to our election: its lease
// counts from then at least.
func (in Input) lastContact(node string) time.Time {
	st, l := in.link(node)
	switch st {
	case linkOK:
		return in.Now
	case linkLost:
		base := l.Since
		if !l.Last.IsZero() {
			base = l.Renewed
		}
		if base.After(in.Term.Since) {
			return base
		}
	}
	return in.Term.Since
}

// leaseEnd is when node's lease to run resources has provably run out, as
// far as this leader can tell (docs/design.md, "Leases").
func (in Input) leaseEnd(node string) time.Time {
	t := in.guardOf(node) // the deadline its own guard enforces (DESIGN.md invariant 7)
	end := in.lastContact(node).Add(t.Lease + releaseMargin)
	if st, l := in.link(node); node == in.Term.PrevLeader && st == linkLost && !l.Answered {
		// The node led before us and has not answered us since we were
		// elected. As leader it held its lease until a leader lease after
		// its last quorum acknowledgement (consensus.QuorumAck), and our
		// election came after that: every vote we got came from a node that
		// had heard nothing from it for a heartbeat timeout (raft refuses
		// votes while it knows a leader), or from the old leader itself
		// after raft stepped it down a heartbeat timeout after losing its
		// quorum. A leader lease never exceeds a heartbeat timeout. After a
		// step-down it holds a follower's lease only once it hears from us.
		// Only an old leader with a longer leader lease than ours (timing
		// being changed) needs the difference added.
		//
		// A leadership transfer skips the vote rule: the old leader keeps
		// its lease for up to a leader lease after it started the transfer
		// (agent lease.go), which was before it told us to take over.
		d := in.Term.Since.Add(max(0, t.LeaderLease-in.Config.Cluster.Timing.RaftLeaderLease))
		if h := in.Term.HandedOverAt; !h.IsZero() && h.Add(t.LeaderLease).After(d) {
			d = h.Add(t.LeaderLease)
		}
		d = d.Add(releaseMargin)
		if d.Before(end) {
			end = d
		}
	}
	return end
}

// Fence back-off: after a failed attempt the next waits 1 s, doubling up to
// 30 s, so a dead fence device costs a handful of attempts a minute, not a
// busy loop. A success, or a quiet spell of twice the cap, starts over.
const (
	fenceBackoffMin = time.Second
	fenceBackoffMax = 30 * time.Second
)

// fenceBackoff is the wait after the given number of failures in a row.
func fenceBackoff(failures int) time.Duration {
	d := fenceBackoffMin
	for i := 1; i < failures && d < fenceBackoffMax; i++ {
		d *= 2
	}
	return min(d, fenceBackoffMax)
}

// fenceEnded folds an attempt's result into the node's fence memory.
func fenceEnded(f FenceState, now time.Time, err error) FenceState {
	if err == nil {
		return FenceState{}
	}
	if !f.Next.IsZero() && now.Sub(f.Next) > 2*fenceBackoffMax {
		f.Failures = 0 // the earlier failures are old news
	}
	f.InFlight = false
	f.Failures++
	f.LastErr = err.Error()
	f.Next = now.Add(fenceBackoff(f.Failures))
	return f
}
