package agent

import (
	"context"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// drain hands this node's groups to others before a clean shutdown (like
// Pacemaker moving resources off a node being stopped): mark the node
// leaving, then wait until it holds nothing or the stop timeouts run out.
//
// A leader hands leadership over first, so the hand-over runs under a
// leader that stays (its client gap is that of any standby switchover) and
// the cluster never waits out an election. In maintenance nothing is handed
// over: the resources stay as they are.
func (a *Agent) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), a.drainTimeout())
	defer cancel()
	go func() {
		select {
		case <-a.hurry:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Decide on current state: an operator may have turned maintenance on a
	// moment ago, and this follower not applied it yet.
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	if err := a.sync(sctx); err != nil {
		a.log.Debug("shutting down on a state that may be stale", "error", err)
	}
	scancel()
	if a.raft.IsLeader() && len(a.cfg.Nodes) > 1 {
		start := time.Now()
		if err := a.raft.TransferLeadership(""); err != nil {
			a.log.Warn("cannot hand leadership over before shutting down", "error", err)
		} else {
			a.log.Info("handed leadership over", "took", time.Since(start).Round(time.Millisecond))
		}
	}
	// A pair node marks itself leaving even when it holds nothing: its peer
	// then removes it from the voters and keeps a quorum alone.
	if !a.holdsDrainable() && a.pair == nil {
		return
	}
	for {
		err := a.applier.Apply(ctx, &state.SetLeaving{Node: a.cfg.NodeName, Leaving: true, Time: time.Now()})
		if err == nil {
			break
		}
		if a.nothingToHandOver() {
			return
		}
		select {
		case <-ctx.Done():
			a.log.Warn("cannot hand groups over (no quorum?); stopping them locally", "error", err)
			return
		case <-time.After(50 * time.Millisecond): // the new leader may not be known yet
		}
	}
	for a.holdsDrainable() {
		if a.nothingToHandOver() {
			return
		}
		select {
		case <-ctx.Done():
			a.log.Warn("groups not handed over in time; stopping them locally")
			return
		case <-a.fsm.Watch():
		case <-time.After(50 * time.Millisecond):
		}
	}
	a.log.Info("groups handed over")
	if a.pair != nil {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		a.pair.leaving(wctx)
		wcancel()
	}
}

// nothingToHandOver: no leader is known, this node has lost its lease, and
// its executor, which stops everything on a lost lease, has stopped all
// here. Waiting on would only wait for a leader, which need not come: when
// every node is stopped at once (a whole-cluster reboot), the last ones
// would wait out the whole drain timeout, systemd's stop timeout or the
// operator's patience. The replicated state still names this node the
// holder; a leader releases its groups by the lease rules, as after any
// stop without a hand-over. With a leader known (a moment after a
// leadership hand-over) the drain goes on as usual.
func (a *Agent) nothingToHandOver() bool {
	if _, addr := a.raft.Leader(); addr != "" || a.lease() || !a.exec.StoppedHere() {
		return false
	}
	a.log.Warn("no leader to hand the groups over to, and nothing runs here any more: not waiting")
	return true
}

// holdsDrainable reports whether this node holds a group that a drain can
// hand over: not in maintenance (shutdown leaves those alone) and not
// blocked (its stop failed: waiting would not help; the final stop tries
// once more and the exit status names what is left).
func (a *Agent) holdsDrainable() bool {
	data := a.fsm.Read()
	if data.Maintenance {
		return false
	}
	for _, gc := range a.current().Groups {
		g := data.Groups[gc.Name]
		if g != nil && g.Holder == a.cfg.NodeName && !g.Maintenance && !gc.Maintenance && g.State != state.GroupBlocked {
			return true
		}
	}
	return false
}

// drainTimeout bounds a drain: the stop timeouts of every configured
// resource and 2 s, at most a minute.
func (a *Agent) drainTimeout() time.Duration {
	d := 2 * time.Second
	for _, g := range a.current().Groups {
		for _, r := range g.Resources {
			d += r.StopTimeout
		}
	}
	return min(d, time.Minute)
}
