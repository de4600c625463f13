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
