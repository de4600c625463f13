package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/state"
)

// recordRecovery puts a `vigil recover` done while the agent was stopped
// (consensus.RecoveryNote) into the replicated history, then removes the
// note: an override of quorum is something every operator of the cluster
// should see later. Only the leader records (events are the leader's to
// write); when several survivors were recovered the one that leads
// records its own, and the others' notes end in their logs.
func (a *Agent) recordRecovery(ctx context.Context) error {
	n, err := consensus.PendingRecovery(a.cfg.DataDir)
	if err != nil {
		a.log.Warn("cannot read the note of a raft recovery; it is not recorded in the history", "error", err)
		return nil
	}
	if n == nil {
		return nil
	}
	msg := fmt.Sprintf("raft configuration recovered on %s by an operator (vigil recover, %s): voters %s; removed %s",
		a.cfg.NodeName, n.Time.UTC().Format(time.RFC3339), strings.Join(n.Voters, ", "), strings.Join(n.Removed, ", "))
	a.log.Warn(msg)
	for {
		if a.raft.IsLeader() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := a.applier.Apply(cctx, &state.RecordEvent{Kind: "recover", Node: a.cfg.NodeName, Message: msg, Time: n.Time})
			cancel()
			if err == nil {
				break
			}
		} else if id, _ := a.raft.Leader(); id != "" {
			break // another survivor leads: this note stays in this log
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	if err := consensus.RecoveryRecorded(a.cfg.DataDir); err != nil {
		a.log.Warn("cannot remove the note of the raft recovery", "error", err)
	}
	return nil
}
