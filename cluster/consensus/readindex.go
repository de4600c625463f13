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
// applied. raft's own applied index counts an entry once it is handed to the
// FSM's goroutine, which may still be busy with earlier ones (a restarted
// follower catching up applies dozens at once): a node that waited on it
// could read, and act on, a state older than the index it waited for.
type commands struct {
	raft.FSM
	last atomic.Uint64 // index of the last command applied (or restored)
}

func (c *commands) Apply(l *raft.Log) any {
	out := c.FSM.Apply(l)
	if l.Type == raft.LogCommand {
		c.last.Store(l.Index)
	}
	return out
}

// indexedFSM is an FSM that knows the index its state is at, also after a
// restore (state.FSM).
type indexedFSM interface{ AppliedIndex() uint64 }

// Restore takes the index of the last command from the FSM if it knows it;
// otherwise it is unknown (0) until the next command.
func (c *commands) Restore(rc io.ReadCloser) error {
	err := c.FSM.Restore(rc)
	var last uint64
	if ix, ok := c.FSM.(indexedFSM); ok {
		last = ix.AppliedIndex()
	}
	c.last.Store(last)
	return err
}

// ReadIndex returns an index that includes every command committed before
// the call, on the leader only (raft's ReadIndex): leadership is confirmed
// with a quorum, and the index is that of the last command at or before the
// commit index (or the commit index if the log no longer has it). A
// follower learns that an entry committed only from the next AppendEntries
// that carries the commit index; the entry that ends a burst of writes
// (Apply's barrier, raft's own no-op) may wait up to two commit timeouts for
// one, so the index handed out is the last command's: a node that applied
// that has the same state. Wait for it with WaitApplied.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	r, err := n.get()
	if err != nil {
		return 0, err
	}
	if err := n.leaderErr(r.VerifyLeader().Error()); err != nil {
		return 0, fmt.Errorf("verify leadership: %w", err)
	}
	commit := r.CommitIndex()
	if c := n.lastCommand(commit); c != 0 {
		return c, nil
	}
	return commit, nil
}

// WaitApplied returns once this node's FSM has applied every entry up to
// idx: raft has handed them to the FSM, and the FSM has applied the last
// command among them.
func (n *Node) WaitApplied(ctx context.Context, idx uint64) error {
	r, err := n.get()
	if err != nil {
		return err
	}
	var cmd uint64
	for {
		if cmd == 0 && r.AppliedIndex() >= idx {
			if cmd = n.lastCommand(idx); cmd == 0 {
				return nil // not in the log any more: a snapshot restored it
			}
		}
		if cmd != 0 && n.cmds.last.Load() >= cmd {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state not caught up to index %d: %w", idx, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// lastCommand is the index of the last command entry at or before idx in
// this node's log; 0 if there is none left there.
func (n *Node) lastCommand(idx uint64) uint64 {
	logs := n.logs.Load()
	if logs == nil {
		return 0
	}
	for i := idx; i > 0; i-- {
		var l raft.Log
		if err := (*logs).GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}
