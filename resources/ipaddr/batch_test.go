package ipaddr

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vigil-ha/vigil/resources"
)

// StopMany removes every address of its agents (whatever prefix length it
// carries, as Stop does), leaves others alone, and is success for an
// address already gone.
func TestStopManyRemovesEveryAddress(t *testing.T) {
	l := newLab(t)
	var agents []resources.Agent
	for i := range 20 {
		ag := agentIn(t, l.a, map[string]string{"address": fmt.Sprintf("198.18.0.%d/24", 100+i), "garp_count": "2"})
		if err := ag.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, ag)
	}
	// A stray copy of one with another prefix length, and one already gone.
	ipCmd(t, "-n", l.a, "addr", "add", "198.18.0.100/32", "dev", "eth0")
	if err := agents[19].Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	keep := agentIn(t, l.a, map[string]string{"address": "198.18.0.200/24"})
	if err := keep.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i, err := range agents[0].(*Agent).StopMany(ctxT(t), agents) {
		if err != nil {
			t.Errorf("agent %d: %v", i, err)
		}
	}
	for i := range 20 {
		if n := len(addrsOn(t, l.a, netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 100+i)))); n != 0 {
			t.Errorf("198.18.0.%d: %d entries left after StopMany", 100+i, n)
		}
		wantState(t, agents[i], resources.Stopped)
	}
	if n := len(addrsOn(t, l.a, netip.MustParseAddr("198.18.0.200"))); n != 1 {
		t.Errorf("an address StopMany was not given: %d entries, want 1", n)
	}
	for _, ag := range agents {
		if ag.(*Agent).pool.busy(ag.(*Agent)) {
			t.Error("an announcement burst survived StopMany")
		}
	}
}

// StartMany adds every address and announces each (first round before it
// returns, the rest from the shared announcer), like Start on each: a peer
// that talked to the addresses on b switches to a for all of them.
func TestStartManyAddsAndAnnounces(t *testing.T) {
	l := newLab(t)
	build := func(ns string) []resources.Agent {
		factory := NewWithLifetime(0)
		var agents []resources.Agent
		for i := range 20 {
			ag, err := factory(resources.Spec{Group: "g", Name: fmt.Sprint("a", i), Params: map[string]string{
				"interface": "eth0", "address": fmt.Sprintf("198.18.0.%d/24", 100+i), "garp_count": "3", "garp_interval": "50ms"}})
			if err != nil {
				t.Fatal(err)
			}
			ag.(*Agent).nsPath = nsPath(ns)
			agents = append(agents, ag)
		}
		return agents
	}
	startAll := func(agents []resources.Agent) {
		t.Helper()
		for i, err := range agents[0].(*Agent).StartMany(ctxT(t), agents) {
			if err != nil {
				t.Fatalf("agent %d: %v", i, err)
			}
		}
	}
	stopAll := func(agents []resources.Agent) {
		t.Helper()
		for i, err := range agents[0].(*Agent).StopMany(ctxT(t), agents) {
			if err != nil {
				t.Fatalf("stop %d: %v", i, err)
			}
		}
	}
	vip := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 100+i)) }
	onB, onA := build(l.b), build(l.a)
	startAll(onB)
	for i := range onB {
		poke(t, l.peer, vip(i)) // the peer caches b's MAC for each
		waitNeigh(t, l.peer, vip(i), l.macB, 3*time.Second)
	}
	stopAll(onB)
	startAll(onA)
	for i, ag := range onA {
		wantState(t, ag, resources.Running)
		wantState(t, onB[i], resources.Stopped)
		waitNeigh(t, l.peer, vip(i), l.macA, 3*time.Second)
	}
	pool := onA[0].(*Agent).pool
	for _, ag := range onA {
		if ag.(*Agent).pool != pool {
			t.Fatal("agents of one factory do not share an announcer")
		}
	}
	stopAll(onA)
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if len(pool.jobs) != 0 {
		t.Errorf("after StopMany the announcer still has %d bursts", len(pool.jobs))
	}
}

// MonitorMany sees each address as Monitor does: running while present,
// stopped once removed, from one dump.
func TestMonitorManyMatchesMonitor(t *testing.T) {
	l := newLab(t)
	agents := quietAgents(t, 8, nsPath(l.a), func(i int) string { return fmt.Sprintf("198.18.0.%d/24", 100+i) })
	a0 := agents[0].(*Agent)
	for i, err := range a0.StartMany(ctxT(t), agents) {
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	for _, i := range []int{2, 5} {
		if err := agents[i].Stop(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	states, errs := a0.MonitorMany(ctxT(t), agents)
	for i, ag := range agents {
		one, err := ag.Monitor(ctxT(t))
		if errs[i] != nil || err != nil || states[i] != one {
			t.Errorf("a%d: MonitorMany %v (%v), Monitor %v (%v)", i, states[i], errs[i], one, err)
		}
		if want := i != 2 && i != 5; (one == resources.Running) != want {
			t.Errorf("a%d: %v, want running %v", i, one, want)
		}
	}
	a0.StopMany(ctxT(t), agents)
}

// BenchmarkMonitor256 is one monitor round of a group of 256 addresses (a
// /23 on one interface): one Monitor each, as the executor did, against one
// MonitorMany. Both run on a thread inside the namespace, as the agent's
// run inside its own. As root: go test -run '^$' -bench Monitor256 ./resources/ipaddr/
func BenchmarkMonitor256(b *testing.B) {
	l := newLab(b)
	agents := quietAgents(b, 256, "", func(i int) string { return fmt.Sprintf("198.18.%d.%d/23", 2+i/250, 1+i%250) })
	a0 := agents[0].(*Agent)
	inside := func(fn func()) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			b.Fatal(err)
		}
		defer orig.Close()
		target, err := netns.GetFromPath(nsPath(l.a))
		if err != nil {
			b.Fatal(err)
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = netns.Set(orig) }()
		fn()
	}
	ctx := context.Background()
	inside(func() { a0.StartMany(ctx, agents) })
	defer inside(func() { a0.StopMany(ctx, agents) })
	b.Run("each", func(b *testing.B) {
		inside(func() {
			for b.Loop() {
				for _, ag := range agents {
					if st, err := ag.Monitor(ctx); err != nil || st != resources.Running {
						b.Fatal(st, err)
					}
				}
			}
		})
	})
	b.Run("many", func(b *testing.B) {
		inside(func() {
			for b.Loop() {
				if states, _ := a0.MonitorMany(ctx, agents); states[255] != resources.Running {
					b.Fatal(states[255])
				}
			}
		})
	})
}

// quietAgents builds n ipaddr agents on eth0 of the namespace at ns ("":
// the calling thread's), without announcements, at the addresses addr(i).
func quietAgents(tb testing.TB, n int, ns string, addr func(i int) string) []resources.Agent {
	tb.Helper()
	factory := NewWithLifetime(0)
	var agents []resources.Agent
	for i := range n {
		ag, err := factory(resources.Spec{Group: "g", Name: fmt.Sprint("a", i), Params: map[string]string{
			"interface": "eth0", "address": addr(i), "garp_count": "0"}})
		if err != nil {
			tb.Fatal(err)
		}
		ag.(*Agent).nsPath = ns
		agents = append(agents, ag)
	}
	return agents
}
