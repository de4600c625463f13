package guard

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestBootTimerFiresAtItsInstant: the timer fires at the CLOCK_BOOTTIME
// instant set last (a later set replaces an earlier one), and at once for
// an instant that has passed.
func TestBootTimerFiresAtItsInstant(t *testing.T) {
	bt, err := newBootTimer()
	if err != nil {
		t.Fatal(err)
	}
	go bt.run()
	defer bt.close()

	if err := bt.set(bootNow() + int64(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	at := bootNow() + int64(150*time.Millisecond)
	if err := bt.set(at); err != nil { // replaces the first
		t.Fatal(err)
	}
	select {
	case <-bt.C:
		if now := bootNow(); now < at {
			t.Fatalf("fired %v before its instant", time.Duration(at-now))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire")
	}

	if err := bt.set(1); err != nil { // long past
		t.Fatal(err)
	}
	select {
	case <-bt.C:
	case <-time.After(5 * time.Second):
		t.Fatal("an instant that has passed did not fire")
	}
}

// stubbornHolder fails to remove its address until fixed.
type stubbornHolder struct {
	mu       sync.Mutex
	fixed    bool
	attempts int
	removed  bool
}

func (h *stubbornHolder) Renew(context.Context, time.Duration) (bool, error) { return true, nil }
func (h *stubbornHolder) String() string                                     { return "a" }
func (h *stubbornHolder) Remove(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if !h.fixed {
		return errors.New("netlink: operation not permitted")
	}
	h.removed = true
	return nil
}

// TestFailedRemovalIsRetriedNotSpun: past the deadline, an address the
// guard cannot remove is tried again every sweepRetry, not in a loop on a
// timer that has already passed, and removed once removal works.
func TestFailedRemovalIsRetriedNotSpun(t *testing.T) {
	h := &stubbornHolder{}
	sock := filepath.Join(t.TempDir(), "g.sock")
	go func() {
		_ = Serve(context.Background(), Config{Socket: sock, Lifetime: 2 * time.Second,
			NewHolder: func(string, string) (Holder, error) { return h, nil }})
	}()
	var s server
	s.t = t
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err == nil {
			s.conn, s.rd = c, bufio.NewReader(c)
			break
		}
		if i > 200 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer s.conn.Close()
	if rep := s.call(request{Op: "hold", Key: "web/vip", Address: "a", Deadline: in(50 * time.Millisecond)}); !rep.OK {
		t.Fatal(rep.Error)
	}
	time.Sleep(650 * time.Millisecond)
	h.mu.Lock()
	n := h.attempts
	h.fixed = true
	h.mu.Unlock()
	if n < 2 || n > 12 {
		t.Errorf("%d removal attempts in the 0.6 s after the deadline, want one about every %v", n, sweepRetry)
	}
	time.Sleep(3 * sweepRetry)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.removed {
		t.Errorf("not removed once removal works (%d attempts)", h.attempts)
	}
}
