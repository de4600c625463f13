package health

// Check states, as reported by Tracker.State and Status.State.
const (
	StateUnknown   = "unknown"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
)

// Default thresholds, used when a Tracker or Named check is given zero.
const (
	DefaultRise = 2
	DefaultFall = 3
)

// Tracker is the rise/fall state machine of one check (not safe for
// concurrent use; the Runner serialises access).
//
// Like haproxy and keepalived, a new check is neither up nor down: it starts
// "unknown" and becomes "healthy" after rise consecutive successes or
// "unhealthy" after fall consecutive failures. From then on it only changes
// state when the opposite outcome repeats: fall failures in a row take a
// healthy check down, rise successes in a row bring an unhealthy one back.
// A flapping check (OK, fail, OK, fail...) therefore keeps its state.
// The coordinator decides what "unknown" means (a standby whose checks are
// still unknown is not yet a failover target).
type Tracker struct {
	rise, fall  int
	state       string
	consecutive int
	last        Result
	seen        bool
}

// NewTracker returns a Tracker in the unknown state. rise or fall below 1
// mean the defaults (2 and 3).
func NewTracker(rise, fall int) *Tracker {
	if rise < 1 {
		rise = DefaultRise
	}
	if fall < 1 {
		fall = DefaultFall
	}
	return &Tracker{rise: rise, fall: fall, state: StateUnknown}
}

// Observe feeds one result and reports whether the state changed.
func (t *Tracker) Observe(r Result) (changed bool) {
	if t.seen && r.OK == t.last.OK {
		t.consecutive++
	} else {
		t.consecutive = 1
	}
	t.seen = true
	t.last = r
	next := t.state
	switch {
	case r.OK && t.consecutive >= t.rise:
		next = StateHealthy
	case !r.OK && t.consecutive >= t.fall:
		next = StateUnhealthy
	}
	if next == t.state {
		return false
	}
	t.state = next
	return true
}

// State is "unknown", "healthy" or "unhealthy".
func (t *Tracker) State() string { return t.state }

// Healthy reports whether the state is "healthy" (unknown is not healthy).
func (t *Tracker) Healthy() bool { return t.state == StateHealthy }

// Consecutive is how many results in a row agree with the latest one.
func (t *Tracker) Consecutive() int { return t.consecutive }

// Last is the latest observed result (zero before the first).
func (t *Tracker) Last() Result { return t.last }
