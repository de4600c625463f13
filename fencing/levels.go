package fencing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Level is one fencing level: every device in it must succeed (e.g. both
// power supplies of a node). Devices run in order.
type Level []NamedFencer

// NamedFencer is one configured device of a level. A nil Fencer stands for a
// device that could not be built; it fails every attempt, so the next level
// gets its turn.
type NamedFencer struct {
	Device  string
	Fencer  Fencer
	Timeout time.Duration // per attempt; 0 = bounded only by the caller's ctx
	Retries int           // attempts after the first failure
	Reboot  bool          // action = "reboot": PowerOnAgain turns the target on again
}

// Attempt is one try of one device, kept for the replicated fencing history.
type Attempt struct {
	Device   string
	Level    int // 1-based, as operators count levels
	Err      error
	Duration time.Duration
}

// ErrFenceFailed is wrapped by Fence's error when no level succeeded.
var ErrFenceFailed = errors.New("fencing failed")

// retryBackoff is the pause before retry n (1-based): short, because the
// node may be running our resources while we wait, growing a little in case
// the BMC is busy.
func retryBackoff(n int) time.Duration {
	d := time.Duration(n) * 200 * time.Millisecond
	return min(d, time.Second)
}

// Fence tries level 1, then level 2 and so on, and returns at the first level
// whose devices all succeeded. Within a level each device gets 1+Retries
// attempts, each bounded by its Timeout; a device that still fails ends its
// level. Every attempt is returned, in order, whether or not fencing worked.
func Fence(ctx context.Context, levels []Level, log hclog.Logger) ([]Attempt, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if len(levels) == 0 {
		return nil, fmt.Errorf("%w: no fencing levels configured", ErrFenceFailed)
	}
	var attempts []Attempt
	var levelErrs []error
	for i, level := range levels {
		n := i + 1
		err := fenceLevel(ctx, n, level, log, &attempts)
		if err == nil {
			log.Info("fencing level succeeded", "level", n, "attempts", len(attempts))
			return attempts, nil
		}
		levelErrs = append(levelErrs, fmt.Errorf("level %d: %w", n, err))
		if ctx.Err() != nil {
			break
		}
		log.Warn("fencing level failed", "level", n, "error", err)
	}
	return attempts, fmt.Errorf("%w: %w", ErrFenceFailed, errors.Join(levelErrs...))
}

// FencedBy is the level whose devices fenced the target: the level of the
// last of attempts, after Fence succeeded.
func FencedBy(levels []Level, attempts []Attempt) Level {
	if len(attempts) == 0 {
		return nil
	}
	n := attempts[len(attempts)-1].Level
	if n < 1 || n > len(levels) {
		return nil
	}
	return levels[n-1]
}

// PowerOnAgain turns the target on again through the devices of level (the
// one that fenced it, FencedBy) whose action is reboot, as Pacemaker's
// reboot does after the off is confirmed; each gets one try within its
// Timeout. It reports whether any device was asked, and the errors.
func PowerOnAgain(ctx context.Context, level Level) (asked bool, err error) {
	var errs []error
	for _, dev := range level {
		if !dev.Reboot {
			continue
		}
		asked = true
		if err := dev.call(ctx, Fencer.On); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dev.Device, err))
		}
	}
	return asked, errors.Join(errs...)
}

func fenceLevel(ctx context.Context, n int, level Level, log hclog.Logger, attempts *[]Attempt) error {
	if len(level) == 0 {
		return errors.New("level has no devices")
	}
	for _, dev := range level {
		if err := fenceDevice(ctx, n, dev, log, attempts); err != nil {
			return fmt.Errorf("device %s: %w", dev.Device, err)
		}
	}
	return nil
}

// fenceDevice runs the attempts of one device and returns the last error.
func fenceDevice(ctx context.Context, n int, dev NamedFencer, log hclog.Logger, attempts *[]Attempt) error {
	var err error
	tries := 1 + max(dev.Retries, 0)
	for try := 0; try < tries; try++ {
		if try > 0 {
			t := time.NewTimer(retryBackoff(try))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
			case <-t.C:
			}
		}
		start := time.Now()
		err = attempt(ctx, dev)
		a := Attempt{Device: dev.Device, Level: n, Err: err, Duration: time.Since(start)}
		*attempts = append(*attempts, a)
		if err == nil {
			log.Info("fence device succeeded", "device", dev.Device, "level", n, "attempt", try+1, "duration", a.Duration)
			return nil
		}
		log.Warn("fence device attempt failed", "device", dev.Device, "level", n, "attempt", try+1,
			"of", tries, "duration", a.Duration, "error", err)
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

func attempt(ctx context.Context, dev NamedFencer) error { return dev.call(ctx, Fencer.Off) }

// call runs op (Fencer.Off or Fencer.On) on the device within its Timeout.
func (dev NamedFencer) call(ctx context.Context, op func(Fencer, context.Context) error) error {
	if dev.Fencer == nil {
		return errors.New("device not available")
	}
	if dev.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dev.Timeout)
		defer cancel()
	}
	return op(dev.Fencer, ctx)
}

// Delay returns how long to wait before fencing a target: static plus a
// random share of max in [0, max), so that two nodes that lost each other do
// not shoot at the same instant. Negative values count as zero; a nil rnd
// gives no random share. rnd is the caller's (not goroutine-safe).
func Delay(static, max time.Duration, rnd *rand.Rand) time.Duration {
	static = maxDur(static, 0)
	if max <= 0 || rnd == nil {
		return static
	}
	return static + time.Duration(rnd.Int64N(int64(max)))
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
