package consensus

import (
	"testing"
	"time"
)

// TestTransferLeadership: the leader hands leadership to a named follower,
// which notes who told it to take over and when; the old leader notes when
// it started the transfer, before that.
func TestTransferLeadership(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	old := leaderOf(t, nodes, 10*time.Second)
	target := others(nodes, old)[0]
	if from, _ := target.node.TakeoverRequested(); from != "" {
		t.Fatalf("takeover noted before any transfer: from %q", from)
	}
	if err := old.node.TransferLeadership(target.id); err != nil {
		t.Fatal(err)
	}
	if l := leaderOf(t, nodes, 10*time.Second); l != target {
		t.Fatalf("leader after the transfer: %s, want %s", l.id, target.id)
	}
	from, at := target.node.TakeoverRequested()
	started := old.node.TransferStarted()
	if from != old.id || started.IsZero() || !at.After(started) || time.Since(at) > 10*time.Second {
		t.Fatalf("target noted takeover from %q at %v; transfer started %v", from, at, started)
	}
	if other := others(nodes, old)[1]; !other.node.TransferStarted().IsZero() {
		t.Fatal("a node that never led notes a transfer it started")
	}
	if err := target.node.TransferLeadership("n9"); err == nil {
		t.Fatal("transfer to a node that is not a voter accepted")
	}
}
