package coordinator

import "time"

// A decision that depends on the clock (a lease end, a fence back-off, a
// link going stale) asks in.due(t); a t still in the future is remembered,
// and the earliest such t comes back as Output.Wake, so that the driver
// wakes exactly when the next decision can change instead of polling.
type wakeup struct{ at time.Time }

// due reports whether t has come, and remembers it as a wake-up if not.
func (in Input) due(t time.Time) bool {
	if !in.Now.Before(t) {
		return true
	}
	if in.wake != nil && (in.wake.at.IsZero() || t.Before(in.wake.at)) {
		in.wake.at = t
	}
	return false
}

// releaseMargin separates the latest instant a lost holder may still run
// its groups (by its own lease, measured on its clock) from the earliest
// instant a leader releases them (on the leader's clock). It covers clock
// rate differences over a lease, message delay and the old holder's guard
// acting on its deadline; the driver wakes on the deadline itself.
const releaseMargin = 50 * time.Millisecond

// staleAfter is how long a link may go without an answer before this leader
// counts it lost. Raft heartbeats go out every tenth of a heartbeat timeout
// and renewals every eighth or quarter lease, so a silence this long is several
// answers missed in a row; a silent peer (a power loss sends no RST) is
// seen lost here long before a TCP call would time out.
func (in Input) staleAfter() time.Duration {
	t := in.Config.Cluster.Timing
	return min(t.RaftHeartbeatTimeout, t.Lease)
}
