package consensus

import (
	"errors"
	"testing"
	"time"
)

type silentFuture struct{ answer chan error }

func (f silentFuture) Error() error { return <-f.answer }

// A future raft never answers ends the wait at the limit; one it answers
// returns its answer.
func TestAwaitGivesUpOnAFutureRaftDropped(t *testing.T) {
	start := time.Now()
	err := await(silentFuture{make(chan error)}, 50*time.Millisecond)
	if !errors.Is(err, ErrUnanswered) || time.Since(start) > time.Second {
		t.Fatalf("await of a dropped future: %v after %v", err, time.Since(start))
	}
	answered := silentFuture{make(chan error, 1)}
	answered.answer <- errors.New("leadership lost")
	if err := await(answered, time.Second); err == nil || err.Error() != "leadership lost" {
		t.Fatalf("await of an answered future: %v", err)
	}
}
