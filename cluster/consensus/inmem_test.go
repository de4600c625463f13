package consensus

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

type inmemNode struct {
	*running
	trans *raft.InmemTransport
}

func inmemCluster(t *testing.T, n int) []*inmemNode {
	t.Helper()
	var peers []Peer
	var trans []*raft.InmemTransport
	for i := range n {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress("inmem-" + nodeName(i)))
		trans = append(trans, tr)
		peers = append(peers, Peer{ID: nodeName(i), Address: string(addr)})
	}
	for i, a := range trans {
		for j, b := range trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	var out []*inmemNode
	for i := range n {
		r := start(t, Config{
			NodeID: nodeName(i), InMem: true, Transport: trans[i], Peers: peers, Timing: fastTiming(),
		})
		if r.node.RPCListener() != nil {
			t.Fatal("RPCListener must be nil with a custom transport")
		}
		out = append(out, &inmemNode{running: r, trans: trans[i]})
	}
	return out
}

// leaderWatch samples every node's state and records each (term, leader)
// pair seen, so a test can check election safety: one leader per term.
type leaderWatch struct {
	mu      sync.Mutex
	leaders map[uint64]map[string]bool
	stop    chan struct{}
	done    chan struct{}
}

func watchLeaders(nodes []*inmemNode) *leaderWatch {
	w := &leaderWatch{leaders: map[uint64]map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, n := range nodes {
				r := n.node.raft.Load()
				if r == nil || r.State() != raft.Leader {
					continue
				}
				term := r.CurrentTerm()
				w.mu.Lock()
				if w.leaders[term] == nil {
					w.leaders[term] = map[string]bool{}
				}
				w.leaders[term][n.id] = true
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *leaderWatch) check(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	for term, ids := range w.leaders {
		if len(ids) > 1 {
			t.Errorf("term %d had %d leaders: %v", term, len(ids), ids)
		}
	}
	t.Logf("leaders per term: %v", w.leaders)
}

func asRunning(nodes []*inmemNode) []*running {
	var out []*running
	for _, n := range nodes {
		out = append(out, n.running)
	}
	return out
}

// TestInmemPartitionedLeader cuts the leader off from both followers: the
// majority elects a new leader in a higher term, the old one steps down and
// cannot commit, and after healing there is one leader and one history.
func TestInmemPartitionedLeader(t *testing.T) {
	nodes := inmemCluster(t, 3)
	watch := watchLeaders(nodes)
	all := asRunning(nodes)

	old := leaderOf(t, all, 10*time.Second)
	oldTerm := old.node.Term()
	if _, err := old.node.Apply([]byte("before"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, all, "before")

	var oldNode *inmemNode
	for _, n := range nodes {
		if n.running == old {
			oldNode = n
		}
	}
	cut := time.Now()
	oldNode.trans.DisconnectAll()
	for _, n := range nodes {
		if n != oldNode {
			n.trans.Disconnect(oldNode.trans.LocalAddr())
		}
	}

	waitFor(t, 5*time.Second, "the isolated leader to step down", func() bool { return !old.node.IsLeader() })
	t.Logf("isolated leader stepped down %v after the cut", time.Since(cut))
	majority := others(all, old)
	newLeader := leaderOf(t, majority, 10*time.Second)
	t.Logf("majority elected %s %v after the cut", newLeader.id, time.Since(cut))
	if newLeader.node.Term() <= oldTerm {
		t.Fatalf("new leader's term %d not above the old term %d", newLeader.node.Term(), oldTerm)
	}

	if _, err := old.node.Apply([]byte("lost"), 500*time.Millisecond); err == nil {
		t.Fatal("isolated old leader committed a write")
	} else if !errors.Is(err, ErrNotLeader) {
		t.Logf("isolated Apply error: %v", err)
	}
	if _, err := newLeader.node.Apply([]byte("during"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, majority, "during")

	// Heal.
	for i, a := range nodes {
		for j, b := range nodes {
			if i != j {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
	final := leaderOf(t, all, 10*time.Second)
	if _, err := final.node.Apply([]byte("after"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, all, "during")
	waitApplied(t, all, "after")
	if old.fsm.has("lost") {
		t.Fatal("the write refused during the partition was applied after healing")
	}
	watch.check(t)
}
