package guard

import (
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
