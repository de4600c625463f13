package executor

import (
	"context"
	"time"
)

// syncWait bounds one attempt to confirm the state through the leader.
const syncWait = time.Second

// current reports whether the runner may act on the local state. Right after
// the agent starts, the state machine holds only the last snapshot: raft does
// not persist its commit index, so the log entries after the snapshot are
// applied only once the leader tells this node what is committed. Acting on
// that stale state stopped a VIP that `vigil maintenance on` had told vigil
// to leave alone, when the agent was restarted for an upgrade. So the runner
// does nothing at all (no start, stop, report or hand-over to the crash
// guard) until Sync has confirmed the state once. An agent that still has
// no lease a lease after it started (a reboot of the whole cluster, an
// isolated node) acts on the state it has: it stops what runs, unless that
// state says hands off.
func (r *runner) current(ctx context.Context) bool {
	if r.confirmed || r.d.Sync == nil {
		r.confirmed = true
		return true
	}
	sctx, cancel := context.WithTimeout(ctx, syncWait)
	err := r.d.Sync(sctx)
	cancel()
	if err == nil {
		r.confirmed = true
		if r.waited {
			r.probe(ctx) // the start-up probe is as old as the wait
		}
		return true
	}
	if !r.waited {
		r.log.Debug("waiting for the leader to confirm the state before acting on it", "error", err)
	}
	r.waited = true
	if r.d.Lease() || r.d.Now().Sub(r.since) < r.d.Config.Cluster.Timing.Lease {
		// With a lease the leader hears this node, so nothing it runs is
		// released under it while it waits: waiting is safe.
		return false
	}
	r.confirmed = true
	r.log.Warn("acting on the local state: no leader confirmed it within the lease", "error", err)
	r.probe(ctx)
	return true
}
