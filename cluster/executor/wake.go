package executor

import (
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// idleWake bounds how long a settled runner sleeps with no news at all (a
// safety net: every change it acts on also wakes it by itself).
const idleWake = time.Second

// nextWake is how long the runner may sleep after a step before it looks
// again, if the state does not change first (Store.Watch wakes it at once).
// While it starts, stops, reports or retries something, or cannot tell
// when its lease ends, it polls. Once the group is settled (running and
// reported here, or not ours and nothing running) it sleeps until the
// first of: the lease end (a lease that was not renewed must be seen to
// run out when it does), the next monitor or refresh, idleWake. This keeps
// an idle agent from waking 40 times a second per group.
func (r *runner) nextWake(now time.Time) time.Duration {
	if r.d.LeaseEnd == nil || !r.confirmed {
		return poll
	}
	end, ok := r.d.LeaseEnd()
	if !ok {
		return poll
	}
	data := r.d.Store.Read()
	g := data.Groups[r.cfg.Name]
	wake := now.Add(idleWake)
	if data.HandsOff(r.cfg.Name, r.cfg.Maintenance) {
		return wake.Sub(now) // hands off until the state changes
	}
	me := r.d.Config.NodeName
	want := g != nil && g.Node == me && g.Holder == me
	switch {
	case g != nil && g.Holder == me && g.State == state.GroupBlocked:
		// Hands off until a cleanup, a fence or a lost lease.
	case want:
		if !r.allRunning() || g.State != state.GroupStarted || g.Unmanaged {
			return poll
		}
		for _, x := range r.res {
			wake = earliest(wake, x.nextMon)
			if rf, ok := ability[refresher](x.agent); ok && rf.RefreshInterval() > 0 {
				wake = earliest(wake, x.nextRefresh)
			}
		}
	case r.anyRunning(), g != nil && g.Holder == me && g.Node != me:
		return poll // stopping, or reporting the stop
	}
	wake = earliest(wake, end)
	return max(wake.Sub(now), time.Millisecond)
}

func earliest(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// wakeCh is the runner's kick channel (made on first use).
func (r *runner) wakeCh() chan struct{} {
	r.wakeOnce.Do(func() { r.wakeup = make(chan struct{}, 1) })
	return r.wakeup
}

// kick wakes the runner now if it sleeps: something it acts on changed
// outside the replicated state (a reload).
func (r *runner) kick() {
	select {
	case r.wakeCh() <- struct{}{}:
	default:
	}
}
