package membership

import (
	"testing"
	"time"
)

// memCluster builds configs for nodes "name:7301" on a MemNetwork.
func memCluster(n *MemNetwork, names ...string) []Config {
	cfgs := make([]Config, len(names))
	for i, name := range names {
		var peers []string
		for j, other := range names {
			if j != i {
				peers = append(peers, other+":7301")
			}
		}
		addr := name + ":7301"
		cfgs[i] = Config{Name: name, BindAddr: addr, Peers: peers, Key: testKey, Label: "edge",
			Timing: fastTiming, Transport: n.Transport(addr)}
	}
	return cfgs
}

// watchStates records every state n observes for name, in order.
func watchStates(n *node, name string, stop <-chan struct{}) <-chan []State {
	out := make(chan []State, 1)
	go func() {
		var seen []State
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		record := func() {
			if mb, ok := n.member(name); ok && (len(seen) == 0 || seen[len(seen)-1] != mb.State) {
				seen = append(seen, mb.State)
			}
		}
		for {
			record()
			select {
			case <-stop:
				record()
				out <- seen
				return
			case <-n.m.Changes():
			case <-tick.C:
			}
		}
	}()
	return out
}

// Isolating a node: the others see it suspect, then dead; after Heal the
// reconnect loop brings everybody back to alive.
func TestMemIsolateThenHeal(t *testing.T) {
	net := NewMemNetwork()
	cfgs := memCluster(net, "n1", "n2", "n3")
	n1, n2, n3 := start(t, cfgs[0]), start(t, cfgs[1]), start(t, cfgs[2])
	for _, n := range []*node{n1, n2, n3} {
		waitFor(t, n, 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
	}
	if mb, _ := n1.member("n3"); mb.Addr == "" || mb.Meta.Role != "node" {
		t.Fatalf("n1 sees n3 as %+v", mb)
	}

	stop := make(chan struct{})
	seen := watchStates(n1, "n3", stop)
	isolated := time.Now()
	net.Isolate("n3:7301")
	waitFor(t, n1, 5*time.Second, "n3 dead", stateIs("n3", StateDead))
	t.Logf("n1 saw n3 dead %v after isolation", time.Since(isolated).Round(time.Millisecond))
	waitFor(t, n2, 5*time.Second, "n3 dead", stateIs("n3", StateDead))
	waitFor(t, n3, 5*time.Second, "n1 dead", stateIs("n1", StateDead))
	close(stop)
	states := <-seen
	t.Logf("n1's view of n3: %v", states)
	if len(states) < 3 || states[0] != StateAlive || states[1] != StateSuspect || states[len(states)-1] != StateDead {
		t.Errorf("want alive -> suspect -> dead, got %v", states)
	}

	net.Heal()
	for _, n := range []*node{n1, n2, n3} {
		waitFor(t, n, 5*time.Second, "all alive after heal", allAlive("n1", "n2", "n3"))
	}
}

// Cutting the direct path between n1 and n2 in a 3-node cluster: memberlist's
// indirect probes through n3 keep both alive (never dead); our own direct
// pings fail, so n1 and n2 see each other "suspect" while the cut lasts.
func TestMemPartitionPairKeepsBothAlive(t *testing.T) {
	net := NewMemNetwork()
	cfgs := memCluster(net, "n1", "n2", "n3")
	n1, n2, n3 := start(t, cfgs[0]), start(t, cfgs[1]), start(t, cfgs[2])
	for _, n := range []*node{n1, n2, n3} {
		waitFor(t, n, 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
	}

	stop := make(chan struct{})
	seen12, seen21 := watchStates(n1, "n2", stop), watchStates(n2, "n1", stop)
	net.Partition("n1:7301", "n2:7301")
	// Many suspicion timeouts (400ms each with the fast preset).
	time.Sleep(4 * time.Second)
	close(stop)
	v12, v21 := <-seen12, <-seen21
	t.Logf("during the cut, n1 saw n2: %v; n2 saw n1: %v", v12, v21)
	for _, states := range [][]State{v12, v21} {
		for _, s := range states {
			if s == StateDead || s == StateLeft {
				t.Errorf("indirect probes should keep the pair alive, saw %v", states)
			}
		}
	}
	if mb, _ := n1.member("n2"); mb.State != StateSuspect {
		t.Errorf("n1 should see n2 suspect (direct path cut), got %s", mb.State)
	}
	for _, name := range []string{"n1", "n2"} {
		if mb, _ := n3.member(name); mb.State != StateAlive {
			t.Errorf("n3 sees %s %s", name, mb.State)
		}
	}

	net.Heal()
	for _, n := range []*node{n1, n2} {
		waitFor(t, n, 3*time.Second, "all alive after heal", allAlive("n1", "n2", "n3"))
	}
}

// A crashed MemTransport node restarted on the same address is alive again.
func TestMemCrashRestart(t *testing.T) {
	net := NewMemNetwork()
	cfgs := memCluster(net, "n1", "n2", "n3")
	n1, _, n3 := start(t, cfgs[0]), start(t, cfgs[1]), start(t, cfgs[2])
	waitFor(t, n1, 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
	n3.kill(t)
	waitFor(t, n1, 5*time.Second, "n3 dead", stateIs("n3", StateDead))

	restarted := cfgs[2]
	restarted.Transport = net.Transport("n3:7301")
	n3 = start(t, restarted)
	waitFor(t, n1, 5*time.Second, "n3 alive", stateIs("n3", StateAlive))
	waitFor(t, n3, 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
}

func TestMemNetworkResolve(t *testing.T) {
	n := NewMemNetwork()
	a, err := n.Resolve("n1:7301")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := n.Resolve("n1:7302"); b == a {
		t.Errorf("different ports resolved the same: %s", b)
	}
	if c, _ := n.Resolve("n2:7301"); c == a {
		t.Errorf("different hosts resolved the same: %s", c)
	}
	if d, _ := n.Resolve("10.0.0.1:7301"); d != "10.0.0.1:7301" {
		t.Errorf("IP address rewritten to %s", d)
	}
	if _, err := n.Resolve("n1"); err == nil {
		t.Error("address without port accepted")
	}
}

// memberlist forgets dead nodes after GossipToTheDeadTime; a configured peer
// must stay listed (as dead) after that.
func TestMemConfiguredPeerOutlivesReap(t *testing.T) {
	net := NewMemNetwork()
	cfgs := memCluster(net, "n1", "n2")
	cfgs[0].Logger = testLogger(t, "n1")
	m1, err := New(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	m1.mlConf.GossipToTheDeadTime = 300 * time.Millisecond
	n2 := start(t, cfgs[1])
	n1 := startMembership(t, m1, cfgs[0])
	waitFor(t, n1, 5*time.Second, "n2 alive", stateIs("n2", StateAlive))
	n2.kill(t)
	waitFor(t, n1, 5*time.Second, "n2 dead", stateIs("n2", StateDead))
	time.Sleep(2 * time.Second) // several reap rounds (probe list wrap-arounds)
	if mb, ok := n1.member("n2"); !ok || mb.State != StateDead {
		t.Fatalf("n2 after reap: %+v (listed=%v)", mb, ok)
	}
}

// TestProbeAnswersSpareOurPings: a member that memberlist's own prober had a
// direct answer from since the last round is not pinged again that round.
// In three nodes the prober visits each peer every other round, so n1 sends
// about half the pings it would (one per peer per round), and nobody turns
// suspect meanwhile.
func TestProbeAnswersSpareOurPings(t *testing.T) {
	net := NewMemNetwork()
	cfgs := memCluster(net, "n1", "n2", "n3")
	var nodes []*node
	for _, c := range cfgs {
		nodes = append(nodes, start(t, c))
	}
	waitFor(t, nodes[0], 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
	time.Sleep(2 * fastTiming.ProbeInterval)
	before := nodes[0].m.pings.Load()
	const rounds = 20
	time.Sleep(rounds * fastTiming.ProbeInterval)
	sent := nodes[0].m.pings.Load() - before
	t.Logf("n1 pinged %d times in %d rounds of 2 peers", sent, rounds)
	if sent > rounds*2*3/4 {
		t.Errorf("n1 sent %d direct pings in %d rounds; want about half of %d", sent, rounds, rounds*2)
	}
	if sent == 0 {
		t.Error("n1 sent no ping at all: the peers' answers are all second hand")
	}
	for _, name := range []string{"n2", "n3"} {
		if mb, _ := nodes[0].member(name); mb.State != StateAlive {
			t.Errorf("%s is %s", name, mb.State)
		}
	}
}
