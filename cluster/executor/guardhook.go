package executor

import (
	"context"
	"fmt"

	"github.com/vigil-ha/vigil/cluster/guard"
	"github.com/vigil-ha/vigil/resources"
)

// Guard is the node's crash guard as the executor drives it (cluster/guard
// Client): it removes a held address if this agent dies or its lease lapses.
// Optional: without it addresses are the agent's alone to remove.
type Guard interface {
	// Hold registers an address before it is added; an error means the
	// address must not be added (nobody would remove it after a crash).
	Hold(ctx context.Context, key, address, iface string) error
	// Release stops the guard renewing an address; called before removal.
	Release(ctx context.Context, key string)
	// Keep has the guard leave an address alone (permanent, not removed
	// if the agent dies): maintenance mode.
	Keep(ctx context.Context, key, address, iface string) error
}

// lapser is a Guard that counts the times it removed the addresses because
// the agent's lease deadline passed (cluster/guard Client).
type lapser interface{ Lapses() uint64 }

// lapses is the guard's count, or 0 when it does not count.
func (r *runner) lapses() uint64 {
	if l, ok := r.d.Guard.(lapser); ok {
		return l.Lapses()
	}
	return 0
}

// removedByGuard: the guard removed this address when the lease lapsed
// since it was started, so its absence is no failure of the resource; the
// group starts it again once the lease holds (no fail count).
func (r *runner) removedByGuard(x *res) bool {
	_, _, _, ok := r.guarded(x)
	return ok && r.lapses() > x.lapsesAtStart
}

// guarded returns the guard's key and the address parameters of a resource
// the guard can remove (ipaddr), or ok false.
func (r *runner) guarded(x *res) (key, address, iface string, ok bool) {
	if r.d.Guard == nil || x.cfg.Type != "ipaddr" {
		return "", "", "", false
	}
	return r.cfg.Name + "/" + x.cfg.Name, x.cfg.Params["address"], x.cfg.Params["interface"], true
}

// startRes starts one resource, an address only once the guard holds it.
func (r *runner) startRes(ctx context.Context, x *res) error {
	if key, addr, ifc, ok := r.guarded(x); ok {
		if err := r.d.Guard.Hold(ctx, key, addr, ifc); err != nil {
			return heldErr(addr, err)
		}
		x.lapsesAtStart = r.lapses()
	}
	return x.agent.Start(ctx)
}

// stopRes stops one resource; an address is released from the guard first,
// so that no lifetime renewal can re-create it after removal.
func (r *runner) stopRes(ctx context.Context, x *res) error {
	if key, _, _, ok := r.guarded(x); ok {
		r.d.Guard.Release(ctx, key)
	}
	return x.agent.Stop(ctx)
}

// guardOff: in maintenance the cluster leaves a group's resources alone
// (Pacemaker's maintenance mode, e.g. to restart agents), so the guard must
// not remove its addresses either, nor may their lifetime run out.
func (r *runner) guardOff(ctx context.Context) {
	if r.d.Guard == nil || r.guardKept {
		return
	}
	ok := true
	for _, x := range r.res {
		if key, addr, ifc, g := r.guarded(x); g {
			if err := r.d.Guard.Keep(ctx, key, addr, ifc); err != nil {
				r.log.Warn("maintenance: cannot have the crash guard leave the address alone", "resource", x.cfg.Name, "error", err)
				ok = false
			}
		}
	}
	r.guardKept = ok
}

// guardOn holds a group's running addresses again after maintenance.
func (r *runner) guardOn(ctx context.Context) {
	if r.d.Guard == nil || !r.guardKept || !r.d.Lease() {
		return
	}
	for _, x := range r.res {
		if key, addr, ifc, g := r.guarded(x); g && r.get(x) != resources.Stopped {
			if err := r.d.Guard.Hold(ctx, key, addr, ifc); err != nil {
				r.log.Warn("after maintenance: the crash guard does not hold the address yet", "resource", x.cfg.Name, "error", err)
				return
			}
		}
	}
	r.guardKept = false
}

// heldErr is the error of a hold the guard refused. A refusal because the
// lease lapsed (as the guard last heard of it) is errNoLease: the start
// waits for the lease, counting no failure.
func heldErr(addr string, err error) error {
	if guard.IsNoLease(err) {
		return fmt.Errorf("not adding %s: %w (%v)", addr, errNoLease, err)
	}
	return fmt.Errorf("not adding %s: %w", addr, err)
}
