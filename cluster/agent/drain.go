package agent

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/raftmembers"
	"github.com/vigil-ha/vigil/cluster/state"
)

// drain hands this node's groups to others before a clean shutdown (like
// Pacemaker moving resources off a node being stopped): mark the node
// leaving, then wait until it holds nothing or the stop timeouts run out.
//
// A leader hands its groups over first, under its own leadership (a
// standby switchover), and then raft leadership, to a voter that holds
// nothing when there is one: no lease is at stake in the transfer (one that
// transferred first kept its groups on a carried lease, which a slow
// election outlasted: design.md, Clean shutdown), and the cluster never
// waits out an election. A pair transfers first: the peer must lead to take
// this node's vote away (twonode.go), and is the new holder either way. In
// maintenance nothing is handed over: the resources stay as they are.
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
	if a.pair != nil {
		a.handLeadershipOver()
	}
	a.handGroupsOver(ctx)
	a.handLeadershipOver()
}

// handGroupsOver marks this node leaving and waits until it holds nothing
// that a drain can hand over.
func (a *Agent) handGroupsOver(ctx context.Context) {
	// A pair node marks itself leaving even when it holds nothing: its peer
	// then removes it from the voters and keeps a quorum alone.
	held := a.drainable()
	if len(held) == 0 && a.pair == nil {
		return
	}
	a.draining.Store(true)
	for {
		err := a.applier.Apply(ctx, &state.SetLeaving{Node: a.cfg.NodeName, Leaving: true, Time: time.Now(), Boot: a.bootKey()})
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
	if a.raft.IsLeader() {
		a.awaitPlacement(ctx, held)
	}
	if a.pair != nil {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		a.pair.leaving(wctx)
		wcancel()
	}
}

// handLeadershipOver transfers raft leadership, if this node leads, to
// transferTarget's choice, or raft's (the most up-to-date voter) when that
// has none or refuses.
func (a *Agent) handLeadershipOver() {
	if !a.raft.IsLeader() || len(a.cfg.Nodes) < 2 {
		return
	}
	start := time.Now()
	target := ""
	if servers, err := a.raft.Configuration(); err == nil {
		witness := map[string]bool{}
		for _, n := range a.current().Nodes {
			witness[n.Name] = n.Witness
		}
		target = transferTarget(a.cfg.NodeName, servers, a.raft.PeerContact(), a.fsm.Read(), witness)
	}
	err := a.raft.TransferLeadership(target)
	if err != nil && target != "" && a.raft.IsLeader() {
		a.log.Debug("leadership transfer refused; letting raft choose", "target", target, "error", err)
		target = ""
		err = a.raft.TransferLeadership("")
	}
	if err != nil {
		a.log.Warn("cannot hand leadership over before shutting down", "error", err)
		return
	}
	if target == "" {
		target = "raft's choice"
	}
	a.log.Info("handed leadership over", "to", target, "took", time.Since(start).Round(time.Millisecond))
}

// transferTarget picks the voter to lead after self: one that answers this
// leader, is not leaving, and is neither assigned nor holding a group, so
// that no lease is at stake while it is elected (a node just elected holds
// its groups on a short grace until its first quorum acknowledgement:
// lease.go). A witness first (it is never given a group: a resource node
// may be, a moment later, by this hand-over), then the first by name; ""
// when none qualifies.
func transferTarget(self string, servers []raftmembers.Server, contact map[string]consensus.PeerLink, data *state.Data, witness map[string]bool) string {
	busy := map[string]bool{}
	for _, g := range data.Groups {
		busy[g.Node], busy[g.Holder] = true, true
	}
	for name, n := range data.Nodes {
		if n.Leaving {
			busy[name] = true
		}
	}
	var ids []string
	for _, s := range servers {
		if s.Voter && s.ID != self && contact[s.ID].InContact() && !busy[s.ID] {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	slices.SortFunc(ids, func(x, y string) int {
		if witness[x] != witness[y] {
			if witness[x] {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	})
	return ids[0]
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

// awaitPlacement lets a leader that has just released the groups named
// commit where they go before it hands leadership over: a transfer right
// after the release left the assignment to the next leader's first term,
// 20-40 ms later (BenchmarkCleanStopDowntime). It waits until each is
// assigned to another node, or a lease at most (nowhere to go).
func (a *Agent) awaitPlacement(ctx context.Context, groups []string) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Cluster.Timing.Lease)
	defer cancel()
	for {
		changed := a.fsm.Watch() // before the read: no change is missed
		data := a.fsm.Read()
		placed := true
		for _, name := range groups {
			if g := data.Groups[name]; g == nil || g.Node == "" || g.Node == a.cfg.NodeName {
				placed = false
			}
		}
		if placed {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// holdsDrainable reports whether this node holds a group that a drain can
// hand over.
func (a *Agent) holdsDrainable() bool { return len(a.drainable()) > 0 }

// drainable names the groups this node holds that a drain can hand over:
// not in maintenance (shutdown leaves those alone) and not blocked (its
// stop failed: waiting would not help; the final stop tries once more and
// the exit status names what is left).
func (a *Agent) drainable() []string {
	data := a.fsm.Read()
	if data.Maintenance {
		return nil
	}
	var out []string
	for _, gc := range a.current().Groups {
		g := data.Groups[gc.Name]
		if g != nil && g.Holder == a.cfg.NodeName && !g.Maintenance && !gc.Maintenance && g.State != state.GroupBlocked {
			out = append(out, gc.Name)
		}
	}
	return out
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
