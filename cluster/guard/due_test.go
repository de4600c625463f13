package guard

import (
	"net"
	"testing"
	"time"
)

// TestRenewalsOnlyWhenDue: the deadline is sent when it moved earlier or
// gained a quarter of its lead, not at every look at the lease; holding
// nothing, the guard is only checked every idleCheck.
func TestRenewalsOnlyWhenDue(t *testing.T) {
	end := time.Now().Add(300 * time.Millisecond)
	c := NewClient(ClientConfig{Lease: func() (time.Time, bool) { return end, true }})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c.conn = a

	c.answered = time.Now()
	if c.dueLocked() {
		t.Error("holding nothing, answered just now: due")
	}
	c.answered = time.Now().Add(-idleCheck)
	if !c.dueLocked() {
		t.Error("holding nothing, no answer for idleCheck: not due")
	}

	c.holds["web/vip"] = [2]string{"198.18.0.100/24", "eth0"}
	c.sent = bootDeadline(end)
	if c.dueLocked() {
		t.Error("lease end unchanged: due")
	}
	end = end.Add(30 * time.Millisecond) // gains 30 ms of a 330 ms lead
	if c.dueLocked() {
		t.Error("a small gain: due")
	}
	end = end.Add(100 * time.Millisecond) // 130 ms of 430 ms
	if !c.dueLocked() {
		t.Error("a gain of more than a quarter of the lead: not due")
	}
	// A gain too small to be worth it, but the guard's deadline is near.
	end = time.Now().Add(3*c.cfg.Every - time.Millisecond)
	c.sent = bootDeadline(end)
	end = end.Add(time.Millisecond)
	if !c.dueLocked() {
		t.Error("the guard's deadline less than three looks away: not due")
	}
	end = time.Now().Add(300 * time.Millisecond)
	c.sent = bootDeadline(end)
	end = end.Add(-time.Millisecond) // moved earlier
	if !c.dueLocked() {
		t.Error("lease end moved earlier: not due")
	}
	c.sent = bootDeadline(end)
	c.pending = true
	if !c.dueLocked() {
		t.Error("a new guard still to take the addresses: not due")
	}
}

// TestNextLookWaitsForADueRenewal: holding addresses, Run sleeps until a
// renewal could be due: a lease end that moves on with the clock (a
// leader's) gains a quarter of its lead, or the guard's deadline comes
// within three looks.
func TestNextLookWaitsForADueRenewal(t *testing.T) {
	lead := 3 * time.Second // a lan follower's lease
	end := time.Now().Add(lead)
	c := NewClient(ClientConfig{Lease: func() (time.Time, bool) { return end, true }, Every: 100 * time.Millisecond})
	c.holds["web/vip"] = [2]string{"198.18.0.100/24", "eth0"}
	c.sent = bootDeadline(end)
	if w := c.nextLookLocked(); w < lead/4-50*time.Millisecond || w > lead/4 {
		t.Errorf("just sent: next look in %v, want about a quarter of the lead (%v)", w, lead/4)
	}
	end = end.Add(lead / 8) // a renewal's step: the rest of a quarter still to gain
	if w, want := c.nextLookLocked(), (lead+lead/8)/4-lead/8; w < want-50*time.Millisecond || w > want {
		t.Errorf("after a step of an eighth: next look in %v, want about %v", w, want)
	}
	end = time.Now().Add(400 * time.Millisecond) // the guard's deadline
	c.sent = bootDeadline(end)
	if w := c.nextLookLocked(); w > 100*time.Millisecond || w < 50*time.Millisecond {
		t.Errorf("deadline 400 ms away: next look in %v, want 100 ms (three looks before it)", w)
	}
}
