package consensus

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSClusterFailoverAndRejoin runs three nodes over real TCP with mutual
// TLS: election, replication, follower refusal, leader loss, a new leader,
// the leader's view of the dead peer, and the old leader's clean rejoin.
func TestTLSClusterFailoverAndRejoin(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)

	select {
	case v := <-leader.node.LeaderChanges():
		if !v {
			t.Fatal("leader's first LeaderChanges value is false")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leader got no LeaderChanges notification")
	}

	resp, err := leader.node.Apply([]byte("a"), 5*time.Second)
	if err != nil {
		t.Fatalf("Apply on leader: %v", err)
	}
	if resp != 1 {
		t.Fatalf("FSM response %v, want 1", resp)
	}
	waitApplied(t, nodes, "a")
	if err := leader.node.Barrier(5 * time.Second); err != nil {
		t.Fatalf("Barrier on leader: %v", err)
	}
	if err := leader.node.VerifyLeader(); err != nil {
		t.Fatalf("VerifyLeader on leader: %v", err)
	}

	follower := others(nodes, leader)[0]
	if _, err := follower.node.Apply([]byte("x"), time.Second); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply on follower: got %v, want ErrNotLeader", err)
	}
	if err := follower.node.VerifyLeader(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("VerifyLeader on follower: got %v, want ErrNotLeader", err)
	}
	if id, addr := follower.node.Leader(); id != leader.id || addr != leader.cfg.BindAddr {
		t.Fatalf("follower sees leader %s@%s, want %s@%s", id, addr, leader.id, leader.cfg.BindAddr)
	}
	if since := time.Since(follower.node.LastLeaderContact()); since > 2*time.Second {
		t.Fatalf("follower's last leader contact was %v ago", since)
	}
	if pc := follower.node.PeerContact(); pc != nil {
		t.Fatalf("PeerContact on a follower: %v, want nil", pc)
	}
	servers, err := follower.node.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("Servers: %v %v", servers, err)
	}
	pc := leader.node.PeerContact()
	if len(pc) != 2 {
		t.Fatalf("PeerContact on leader: %v, want 2 peers", pc)
	}
	for id, l := range pc {
		if !l.OK {
			t.Fatalf("peer %s not OK on a healthy cluster", id)
		}
	}
	waitFor(t, 5*time.Second, "both peers to have answered the leader", func() bool {
		n := 0
		for _, l := range leader.node.PeerContact() {
			if l.Answered {
				n++
			}
		}
		return n == 2
	})

	// Stop the leader: the other two elect a new one.
	stopped := time.Now()
	if err := leader.stop(); err != nil {
		t.Fatalf("stop leader: %v", err)
	}
	rest := others(nodes, leader)
	newLeader := leaderOf(t, rest, 10*time.Second)
	t.Logf("new leader %s elected %v after the old leader stopped", newLeader.id, time.Since(stopped))
	if _, err := newLeader.node.Apply([]byte("b"), 5*time.Second); err != nil {
		t.Fatalf("Apply on new leader: %v", err)
	}
	waitApplied(t, rest, "b")

	waitFor(t, 5*time.Second, "the new leader to see the stopped peer as not OK", func() bool {
		l, ok := newLeader.node.PeerContact()[leader.id]
		return ok && !l.OK
	})
	// The stopped old leader never answered the new one: its link is
	// unknown to it, not merely lost.
	if l := newLeader.node.PeerContact()[leader.id]; l.Answered {
		t.Fatalf("stopped peer shown as having answered the new leader: %+v", l)
	}
	pc = newLeader.node.PeerContact()
	if l := pc[others(rest, newLeader)[0].id]; !l.OK {
		t.Fatalf("live peer shown as not OK: %v", pc)
	}
	if since := pc[leader.id].Since; since.Before(stopped.Add(-time.Second)) || since.After(time.Now()) {
		t.Fatalf("stopped peer's Since %v is not around the stop at %v", since, stopped)
	}

	// Restart the old leader on the same data dir: it rejoins with its
	// stored state (no second bootstrap) and catches up.
	back := start(t, leader.cfg)
	waitApplied(t, []*running{back}, "a")
	waitApplied(t, []*running{back}, "b")
	if back.node.IsLeader() {
		// Possible but unlikely; it must then have won a fair election.
		t.Logf("restarted node became leader")
	}
	final := leaderOf(t, append(rest, back), 10*time.Second)
	if _, err := final.node.Apply([]byte("c"), 5*time.Second); err != nil {
		t.Fatalf("Apply after rejoin: %v", err)
	}
	waitApplied(t, append(rest, back), "c")
	servers, err = back.node.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("rejoined node's Servers: %v %v", servers, err)
	}
	if final != back {
		waitFor(t, 5*time.Second, "the leader to see the rejoined peer as OK", func() bool {
			return final.node.PeerContact()[back.id].OK
		})
	}
	if _, err := os.Stat(filepath.Join(leader.cfg.DataDir, "raft", "raft.db")); err != nil {
		t.Fatalf("raft.db: %v", err)
	}
}
