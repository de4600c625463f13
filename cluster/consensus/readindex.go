package consensus

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// commands wraps the FSM to remember the index of the last command entry it
// applied. A follower learns that an entry committed only from the next
// AppendEntries that carries the commit index; the entry that ends a burst
// of writes (Apply's barrier, raft's own no-op) may wait up to two commit
// timeouts for one. So the read index a leader hands out is its last
// command, not its commit index: a follower that applied that has the same
// state, and need not wait for an entry that changes nothing.
type commands struct {
	raft.FSM
	last atomic.Uint64 // index of the last command applied; 0: not known
}

func (c *commands) Apply(l *raft.Log) any {
	out := c.FSM.Apply(l)
	if l.Type == raft.LogCommand {
		c.last.Store(l.Index)
	}
	return out
}

// Restore forgets the last command: a snapshot does not say which entry was
// the last command before it, and ReadIndex falls back to the commit index.
func (c *commands) Restore(rc io.ReadCloser) error {
	c.last.Store(0)
	return c.FSM.Restore(rc)
}

// ReadIndex returns an index that includes every command committed before
// the call, on the leader only (raft's ReadIndex): leadership is confirmed
// with a quorum, the local FSM has applied what was committed then, and the
// index is that of the last command applied (see commands), or the commit
// index if that is not known.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	r, err := n.get()
	if err != nil {
		return 0, err
	}
	if err := n.leaderErr(r.VerifyLeader().Error()); err != nil {
		return 0, fmt.Errorf("verify leadership: %w", err)
	}
	commit := r.CommitIndex()
	for r.AppliedIndex() < commit {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("apply up to the commit index %d: %w", commit, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	if last := n.cmds.last.Load(); last != 0 {
		return last, nil
	}
	return commit, nil
}
