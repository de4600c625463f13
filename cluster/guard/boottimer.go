package guard

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// bootTimer fires at a CLOCK_BOOTTIME instant, the clock the deadlines are
// in. Go's timers run on CLOCK_MONOTONIC, which stops while the machine is
// suspended: a deadline that passed during a suspend would be seen only
// when the Go timer ran out later. The guard used to look at the clock
// every 100 ms as well for that; a timerfd on CLOCK_BOOTTIME fires on
// resume by itself, so a guard that holds addresses now wakes only for
// the agent, its deadline and its lifetime renewals (it was 10 wake-ups a
// second, half the guard's idle CPU).
type bootTimer struct {
	f *os.File
	C chan struct{} // a send when the instant set last has passed
}

// newBootTimer needs Linux 3.15 or later (timerfd on CLOCK_BOOTTIME).
func newBootTimer() (*bootTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_BOOTTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("guard timer (timerfd on CLOCK_BOOTTIME, Linux 3.15 or later): %w", err)
	}
	// Non-blocking: os.File waits for it in Go's network poller.
	return &bootTimer{f: os.NewFile(uintptr(fd), "guard-timer"), C: make(chan struct{}, 1)}, nil
}

// run passes each expiry on to C until the timer is closed.
func (t *bootTimer) run() {
	var n [8]byte // the count of expiries since the last read
	for {
		if _, err := t.f.Read(n[:]); err != nil {
			return
		}
		select {
		case t.C <- struct{}{}:
		default: // one pending is enough: the reader looks at the clock
		}
	}
}

// set arms the timer for the CLOCK_BOOTTIME instant at (ns); an instant
// that has passed fires at once. A later set replaces it.
func (t *bootTimer) set(at int64) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(at, 1))}
	raw, err := t.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.TimerfdSettime(int(fd), unix.TFD_TIMER_ABSTIME, &spec, nil)
	}); err != nil {
		return err
	}
	return serr
}

func (t *bootTimer) close() { _ = t.f.Close() }
