package ipaddr

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

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
