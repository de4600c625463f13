// Package guard is vigil's crash guard: a small process of its own, started
// by the agent and outliving it, that enforces the agent's lease on this
// node's floating addresses. The agent renews a deadline over a unix socket
// while its lease holds; when the agent goes away (the socket closes: a
// crash, kill -9, a panic) or stops renewing past the deadline (frozen,
// stalled), the guard removes the addresses it was told about at once. While
// the deadline holds it also renews the addresses' kernel lifetime, so that
// if agent and guard are both gone or frozen the kernel drops them by itself
// (DESIGN.md invariant 7).
//
// Deadlines are CLOCK_BOOTTIME instants: monotonic, shared by both
// processes, and counting time the machine spent suspended.
package guard

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// request is one line from the agent. Every request gets one reply line.
type request struct {
	Op string `json:"op"` // renew | hold | release | keep
	// Deadline is the lease end as a CLOCK_BOOTTIME instant in nanoseconds;
	// at or before now means "no lease". renew and hold carry it.
	Deadline  int64  `json:"deadline,omitempty"`
	Key       string `json:"key,omitempty"` // hold, release, keep: "group/resource"
	Address   string `json:"address,omitempty"`
	Interface string `json:"interface,omitempty"`
}

type reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Lapses counts the times this guard removed the addresses because the
	// deadline passed: the agent tells its own lease lapse (not a resource
	// failure) from an address that vanished otherwise.
	Lapses uint64 `json:"lapses,omitempty"`
}

// bootNow is CLOCK_BOOTTIME in nanoseconds.
func bootNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		// Not on Linux >= 2.6.39: fall back to CLOCK_MONOTONIC, which the
		// other side falls back to as well.
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	}
	return ts.Nano()
}

// bootDeadline converts a lease end (with Go's monotonic reading) to a
// CLOCK_BOOTTIME instant.
func bootDeadline(end time.Time) int64 {
	if end.IsZero() {
		return 1 // long past: no lease
	}
	return bootNow() + int64(time.Until(end))
}

// noLease is the guard's refusal of a hold after the deadline passed.
const noLease = "the agent holds no lease: refusing to guard a new address"

// IsNoLease reports whether err is the guard's refusal to hold an address
// because the agent's last deadline had passed: a lapse of the lease (as the
// guard last heard of it), not a failure of the address.
func IsNoLease(err error) bool {
	return err != nil && strings.Contains(err.Error(), noLease)
}
