package executor

import "time"

// Back-off of operations that keep failing. A failed stop cannot be escalated
// here (the leader fences, or the operator cleans up), so retrying it fast
// only burns forks, log lines and provider API quota; a start or monitor
// failure restarts in place at once the first time (that is what a user
// wants from a crashed daemon) and ever more slowly after that.
const (
	stopRetryBase  = time.Second
	stopRetryMax   = time.Minute
	startRetryBase = 200 * time.Millisecond
	startRetryMax  = 30 * time.Second
)

// retry spaces out the attempts of an operation that keeps failing: the
// first retry after base, then doubling up to max. The runner's loop owns it;
// status reads a copy under runner.mu.
type retry struct {
	base, max time.Duration
	attempts  int       // consecutive failures
	next      time.Time // no attempt before this
	lastErr   string
}

func newRetry(base, max time.Duration) retry { return retry{base: base, max: max} }

// fail records one more failure and schedules the next attempt.
func (b *retry) fail(now time.Time, err string) {
	b.attempts++
	b.lastErr = err
	d := b.max
	if b.attempts <= 30 {
		d = min(b.base<<(b.attempts-1), b.max)
	}
	b.next = now.Add(d)
}

// due reports whether an attempt may run now.
func (b *retry) due(now time.Time) bool { return !now.Before(b.next) }

// reset forgets the failures: the next attempt may run at once.
func (b *retry) reset() { *b = newRetry(b.base, b.max) }
