// Package sched raises the agent's CPU priority, as corosync (realtime
// scheduling) and keepalived (vrrp_priority) do for theirs: on a machine
// saturated by other work at normal priority, a starved agent misses its
// lease renewals and heartbeats and drops or moves the service for nothing.
package sched

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Raise sets the nice value of every thread of this process to nice. Linux
// keeps a nice value per thread and a new thread inherits its creator's, so
// after this every thread the Go runtime starts has it too, and so does
// every process the agent starts (see Normal). When the process leads its
// session, as a systemd service does, the session's autogroup gets the
// same nice value (see raiseAutogroup).
func Raise(nice int) error {
	err := raiseThreads(nice)
	if gerr := raiseAutogroup(nice); gerr != nil {
		err = errors.Join(err, gerr)
	}
	return err
}

// raiseAutogroup: with the kernel's autogroup scheduling (on by default in
// Debian when no cgroup CPU controller is used), each session is a CPU
// group of its own, weighed against other sessions by the group's nice
// value alone; a thread's nice value only orders it within its group. So a
// raised agent in its own session (every systemd service is one) would
// still get no more than any other session's busy loop. The session's
// group is raised only when the agent leads it: a session shared with a
// login shell is not the agent's to raise.
func raiseAutogroup(nice int) error {
	if sid, err := unix.Getsid(0); err != nil || sid != os.Getpid() {
		return nil
	}
	err := os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(nice)), 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a kernel without autogroup scheduling
	}
	if err != nil {
		return fmt.Errorf("set the session's autogroup nice %d: %w", nice, err)
	}
	return nil
}

func raiseThreads(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("set nice %d: %w", nice, errors.Join(errs...))
	}
	return nil
}

// Normal gives a process the agent started (a resource agent, a fence
// agent, a check) the default priority back: the service itself competes
// like any other process; only the agent's own decisions must not starve.
func Normal(pid int) {
	_ = unix.Setpriority(unix.PRIO_PROCESS, pid, 0) // it may have exited already
}

// Current is this thread's nice value.
func Current() (int, error) {
	// getpriority returns 20 - nice on Linux (to keep it positive).
	p, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
}
