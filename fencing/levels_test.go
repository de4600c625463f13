package fencing

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeFencer fails its first failN calls, then succeeds; block makes Off
// wait for its context instead (a hung BMC).
type fakeFencer struct {
	mu    sync.Mutex
	ons   int // On calls
	calls int
	failN int
	block bool
}

func (f *fakeFencer) Off(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if n <= f.failN {
		return errors.New("bmc said no")
	}
	return nil
}

func (f *fakeFencer) Status(context.Context) (Power, error) { return PowerUnknown, nil }

func (f *fakeFencer) On(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ons++
	return nil
}

func (f *fakeFencer) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestFenceFallsThroughToTheNextLevel(t *testing.T) {
	broken := &fakeFencer{failN: 1 << 30}
	good := &fakeFencer{}
	levels := []Level{
		{{Device: "lb1-bmc", Fencer: broken, Retries: 1}},
		{{Device: "missing", Fencer: nil}},
		{{Device: "lb1-ec2", Fencer: good}},
	}
	attempts, err := Fence(context.Background(), levels, nil)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	want := []struct {
		dev   string
		level int
		ok    bool
	}{{"lb1-bmc", 1, false}, {"lb1-bmc", 1, false}, {"missing", 2, false}, {"lb1-ec2", 3, true}}
	if len(attempts) != len(want) {
		t.Fatalf("attempts = %+v", attempts)
	}
	for i, w := range want {
		a := attempts[i]
		if a.Device != w.dev || a.Level != w.level || (a.Err == nil) != w.ok {
			t.Errorf("attempt %d = %+v, want %+v", i, a, w)
		}
	}
	if broken.Calls() != 2 || good.Calls() != 1 {
		t.Fatalf("calls: broken %d good %d", broken.Calls(), good.Calls())
	}
}

func TestFenceRetriesThenSucceedsWithoutTryingLaterLevels(t *testing.T) {
	flaky := &fakeFencer{failN: 2}
	never := &fakeFencer{}
	attempts, err := Fence(context.Background(), []Level{
		{{Device: "bmc", Fencer: flaky, Retries: 2}},
		{{Device: "backup", Fencer: never}},
	}, nil)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if len(attempts) != 3 || attempts[2].Err != nil || flaky.Calls() != 3 || never.Calls() != 0 {
		t.Fatalf("attempts %+v, flaky calls %d, backup calls %d", attempts, flaky.Calls(), never.Calls())
	}
}

func TestFenceLevelNeedsEveryDevice(t *testing.T) {
	psuA := &fakeFencer{}
	psuB := &fakeFencer{failN: 1 << 30}
	attempts, err := Fence(context.Background(), []Level{
		{{Device: "psu-a", Fencer: psuA}, {Device: "psu-b", Fencer: psuB}},
	}, nil)
	if !errors.Is(err, ErrFenceFailed) {
		t.Fatalf("err = %v, want ErrFenceFailed", err)
	}
	if !strings.Contains(err.Error(), "psu-b") || !strings.Contains(err.Error(), "bmc said no") {
		t.Fatalf("error does not say which device failed: %v", err)
	}
	if len(attempts) != 2 || attempts[0].Err != nil || attempts[1].Err == nil {
		t.Fatalf("attempts %+v", attempts)
	}
}

func TestFenceTimeoutBoundsEachAttempt(t *testing.T) {
	hung := &fakeFencer{block: true}
	start := time.Now()
	attempts, err := Fence(context.Background(), []Level{
		{{Device: "hung", Fencer: hung, Timeout: 50 * time.Millisecond, Retries: 1}},
	}, nil)
	if !errors.Is(err, ErrFenceFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if len(attempts) != 2 {
		t.Fatalf("attempts %+v", attempts)
	}
	for _, a := range attempts {
		if a.Duration < 50*time.Millisecond || a.Duration > 2*time.Second {
			t.Fatalf("attempt duration %v not bounded by its timeout", a.Duration)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Fence took %v", el)
	}
}

func TestFenceStopsWhenTheCallerGivesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	hung := &fakeFencer{block: true}
	next := &fakeFencer{}
	_, err := Fence(ctx, []Level{
		{{Device: "hung", Fencer: hung, Retries: 5}},
		{{Device: "next", Fencer: next}},
	}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || hung.Calls() != 1 || next.Calls() != 0 {
		t.Fatalf("err %v, hung calls %d, next calls %d", err, hung.Calls(), next.Calls())
	}
}

func TestFenceWithoutLevelsFails(t *testing.T) {
	if _, err := Fence(context.Background(), nil, nil); !errors.Is(err, ErrFenceFailed) {
		t.Fatalf("err = %v", err)
	}
}

func TestDelayStaysWithinBoundsAndSpreads(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const static, spread = 2 * time.Second, 3 * time.Second
	var buckets [3]int
	for range 3000 {
		d := Delay(static, spread, rnd)
		if d < static || d >= static+spread {
			t.Fatalf("Delay = %v, want in [%v, %v)", d, static, static+spread)
		}
		buckets[(d-static)/time.Second]++
	}
	for i, n := range buckets {
		if n < 800 || n > 1200 { // expected 1000 per second-wide bucket
			t.Fatalf("bucket %d has %d of 3000: not uniform: %v", i, n, buckets)
		}
	}
	if d := Delay(static, 0, rnd); d != static {
		t.Fatalf("Delay without max = %v", d)
	}
	if d := Delay(-time.Second, 0, nil); d != 0 {
		t.Fatalf("Delay(negative) = %v", d)
	}
	if d := Delay(time.Second, time.Second, nil); d != time.Second {
		t.Fatalf("Delay with nil rand = %v", d)
	}
}

// TestPowerOnAgainUsesTheLevelThatFenced: after a fence, only the devices
// of the level that succeeded are asked to power the target on, and only
// those whose action is reboot (a level of two power supplies: both).
func TestPowerOnAgainUsesTheLevelThatFenced(t *testing.T) {
	broken := &fakeFencer{failN: 1 << 30}
	psuA, psuB, switchOnly := &fakeFencer{}, &fakeFencer{}, &fakeFencer{}
	levels := []Level{
		{{Device: "bmc", Fencer: broken, Reboot: true}},
		{{Device: "psu-a", Fencer: psuA, Reboot: true}, {Device: "psu-b", Fencer: psuB, Reboot: true},
			{Device: "switch", Fencer: switchOnly}},
	}
	attempts, err := Fence(context.Background(), levels, nil)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	asked, err := PowerOnAgain(context.Background(), FencedBy(levels, attempts))
	if !asked || err != nil {
		t.Fatalf("PowerOnAgain: asked %v, %v", asked, err)
	}
	if broken.ons != 0 || psuA.ons != 1 || psuB.ons != 1 || switchOnly.ons != 0 {
		t.Errorf("power-ons: bmc %d psu-a %d psu-b %d switch %d; want 0 1 1 0", broken.ons, psuA.ons, psuB.ons, switchOnly.ons)
	}

	off := []Level{{{Device: "bmc", Fencer: &fakeFencer{}}}}
	attempts, _ = Fence(context.Background(), off, nil)
	if asked, _ := PowerOnAgain(context.Background(), FencedBy(off, attempts)); asked {
		t.Error("a device with action off was asked to power the target on")
	}
}
