package consensus

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ErrUnanswered: raft gave no answer for an entry in time; it may or may not
// commit, as after raft.ErrLeadershipLost.
var ErrUnanswered = errors.New("raft gave no answer: the entry may or may not commit")

// await waits at most limit for a future whose entry goes through the log
// (Apply, Barrier, a configuration change). hashicorp/raft can drop such a
// future without an answer, and its wait has neither a timeout nor, for
// these, a shutdown channel (hashicorp/raft#498, open): a caller that waited
// for ever wedged an agent's coordinator, and with it the agent's shutdown
// (TestHarnessFailoverKeepsInvariants hung so in CI). Past the limit the
// waiting goroutine is left to the future; the caller decides again.
func await(f raft.Future, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w within %v", ErrUnanswered, limit)
	}
}
