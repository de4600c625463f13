// Package ratelog limits log lines caused by remote input (bad handshakes,
// garbage packets, refused requests), so that a flood cannot fill the disk:
// a burst is logged, then one line per interval that counts what was
// suppressed.
package ratelog

import (
	"sync"
	"time"
)

// Limiter is a token bucket for log lines. The zero value is not usable;
// use New. It is safe for concurrent use.
type Limiter struct {
	mu         sync.Mutex
	every      time.Duration
	burst      int
	tokens     float64
	last       time.Time
	suppressed int
	now        func() time.Time
}

// New allows burst lines at once and then one line per every.
func New(burst int, every time.Duration) *Limiter {
	return &Limiter{every: every, burst: burst, tokens: float64(burst), now: time.Now}
}

// Allow reports whether a line may be logged now, and how many lines were
// suppressed since the last allowed one (to be mentioned in that line).
func (l *Limiter) Allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(float64(l.burst), l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	s := l.suppressed
	l.suppressed = 0
	return true, s
}
