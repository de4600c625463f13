package ratelog

import (
	"testing"
	"time"
)

func TestBurstThenRateWithSuppressedCount(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(3, time.Second)
	l.now = func() time.Time { return now }
	allowed := 0
	for range 1000 {
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("burst allowed %d lines, want 3", allowed)
	}
	now = now.Add(time.Second)
	ok, suppressed := l.Allow()
	if !ok || suppressed != 997 {
		t.Fatalf("after a second: ok %v suppressed %d, want true 997", ok, suppressed)
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("second line in the same second allowed")
	}
}
