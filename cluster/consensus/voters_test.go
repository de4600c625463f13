package consensus

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/raftmembers"
)

// TestGrowToFiveVotersAndBack grows a three-voter cluster to five with
// ChangeVoters (the two new nodes start with an empty data_dir and the full
// peer list, so their own bootstrap cannot elect anything), refuses a change
// that the voters in contact could not carry, and shrinks back to three.
// Every step commits a command that every voter then applies.
func TestGrowToFiveVotersAndBack(t *testing.T) {
	pki := newTestPKI(t)
	addrs := freeAddrs(t, 5)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: nodeName(i), Address: a})
	}
	dirs := make([]string, 5)
	tlsConf := make([]*tls.Config, 5)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), nodeName(i))
		tlsConf[i] = pki.config(t, nodeName(i))
	}
	run := func(i int, p []Peer) *running {
		return start(t, Config{NodeID: nodeName(i), BindAddr: addrs[i], DataDir: dirs[i], TLS: tlsConf[i],
			Peers: p, Timing: fastTiming()})
	}
	// The cluster is bootstrapped with three voters; then n4 and n5 are
	// configured on every node (the agents restart with the new files and
	// their raft state) and start with an empty data_dir.
	var nodes []*running
	for i := range 3 {
		nodes = append(nodes, run(i, peers[:3]))
	}
	leaderOf(t, nodes, 10*time.Second)
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
	}
	nodes = nodes[:0]
	for i := range 5 {
		nodes = append(nodes, run(i, peers))
	}
	leader := leaderOf(t, nodes[:3], 10*time.Second)
	answered := func(ids ...string) func() bool {
		return func() bool {
			pc := leader.node.PeerContact()
			for _, id := range ids {
				if l := pc[id]; !l.Answered || !l.OK {
					return false
				}
			}
			return true
		}
	}
	voters := func() string {
		s, err := leader.node.Configuration()
		if err != nil {
			t.Fatal(err)
		}
		var v []string
		for _, x := range s {
			if x.Voter {
				v = append(v, x.ID)
			}
		}
		return strings.Join(v, ",")
	}
	change := func(op string, i int) raftmembers.Verdict {
		t.Helper()
		v, err := leader.node.ChangeVoters(raftmembers.Change{Op: op, ID: nodeName(i), Address: addrs[i]}, 5*time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", op, nodeName(i), err)
		}
		return v
	}
	commit := func(cmd string, on []*running) {
		t.Helper()
		if _, err := leader.node.Apply([]byte(cmd), 5*time.Second); err != nil {
			t.Fatalf("apply %s: %v", cmd, err)
		}
		waitApplied(t, on, cmd)
	}

	var first []string
	for _, n := range others(nodes[:3], leader) {
		first = append(first, n.id)
	}
	waitFor(t, 10*time.Second, "the first voters answering the leader", answered(first...))
	if v := change("add", 3); v.Warning == "" {
		t.Errorf("4 voters without an even-count warning: %+v", v)
	}
	commit("four", nodes[:4])
	waitFor(t, 10*time.Second, "n4 answering the leader", answered("n4"))
	if v := change("add", 4); v.Warning != "" || len(v.Voters) != 5 {
		t.Errorf("5 voters: %+v", v)
	}
	commit("five", nodes)
	if got := voters(); got != "n1,n2,n3,n4,n5" {
		t.Fatalf("voters %s", got)
	}

	// Two voters gone: adding a sixth would need 4 of 6 in contact.
	var gone []*running
	for _, n := range nodes[3:] {
		if n != leader {
			gone = append(gone, n)
		}
	}
	for _, n := range gone {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the leader to see n4, n5 fail", func() bool {
		pc := leader.node.PeerContact()
		return !pc["n4"].OK && !pc["n5"].OK
	})
	_, err := leader.node.ChangeVoters(raftmembers.Change{Op: "add", ID: "n6", Address: "127.0.0.1:1"}, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "majority") {
		t.Fatalf("add n6 with two of five voters down: %v", err)
	}
	if got := voters(); got != "n1,n2,n3,n4,n5" {
		t.Fatalf("a refused change changed the voters: %s", got)
	}

	// Back to three: the stopped nodes are removed one at a time.
	change("remove", 3)
	change("remove", 4)
	if got := voters(); got != "n1,n2,n3" {
		t.Fatalf("voters %s, want n1,n2,n3", got)
	}
	commit("three", nodes[:3])
}
