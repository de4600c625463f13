package agent

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
)

// harnessPower is a fence device in the two-node harness: Off powers the
// target off (cables pulled first, its resources gone, its agent stopped),
// unless the node running the device is off itself.
type harnessPower struct {
	h      *harness
	caller string
	target string
}

func (p *harnessPower) Off(context.Context) error {
	if p.h.isOff(p.caller) {
		return errors.New("the fencing node has no power")
	}
	p.h.powerOff(p.target)
	return nil
}

// On is never called here: the harness's devices keep action = "off".
func (p *harnessPower) On(context.Context) error {
	return errors.New("the harness does not power nodes on")
}

func (p *harnessPower) Status(context.Context) (fencing.Power, error) {
	if p.h.isOff(p.caller) {
		return fencing.PowerUnknown, errors.New("the fencing node has no power")
	}
	if p.h.isOff(p.target) {
		return fencing.PowerOff, nil
	}
	return fencing.PowerOn, nil
}

func (h *harness) isOff(n string) bool {
	h.held.mu.Lock()
	defer h.held.mu.Unlock()
	return h.held.off[n]
}

// powerOff cuts n's power: no network, no resources, agent gone.
func (h *harness) powerOff(n string) {
	h.held.mu.Lock()
	if h.held.off[n] {
		h.held.mu.Unlock()
		return
	}
	h.held.off[n] = true
	for _, nodes := range h.held.running {
		delete(nodes, n)
	}
	h.held.mu.Unlock()
	h.isolate(n)
	a := h.agents[n]
	go func() { a.Hurry(); h.stop[n]() }()
}

func newPairHarness(t *testing.T) *harness {
	if testing.Short() {
		t.Skip("multi-node harness")
	}
	h := newHarnessOf(t, []string{"n1", "n2"}, func(h *harness, node string, cfg *configs.Config, d *Deps) {
		cfg.Cluster.TwoNode, cfg.Cluster.WaitForAll, cfg.Cluster.PriorityFenceDelay = true, true, time.Second
		cfg.Nodes = slices.Clone(cfg.Nodes) // shared with the agents already running
		for i := range cfg.Nodes {
			cfg.Nodes[i].Fence = []configs.FenceLevel{{Devices: []string{cfg.Nodes[i].Name + "-bmc"}}}
		}
		cfg.Fences = []configs.Fence{{Type: "power", Name: "n1-bmc", Timeout: time.Second},
			{Type: "power", Name: "n2-bmc", Timeout: time.Second}}
		d.Fencers = fencing.Registry{"power": func(dev fencing.Device) (fencing.Fencer, error) {
			return &harnessPower{h: h, caller: node, target: dev.Target}, nil
		}}
	})
	h.settleOn("n1")
	// Both have seen the pair working (wait_for_all): in a real pair that
	// is long before any failure.
	h.waitFor("both nodes armed", 10*time.Second, func() bool {
		for _, n := range h.names {
			p := h.agents[n].pair
			p.mu.Lock()
			armed := p.armed
			p.mu.Unlock()
			if !armed {
				return false
			}
		}
		return true
	})
	return h
}

// Both links between the two nodes cut, both alive: exactly one survives,
// and it is the holder (the other waits the priority delay and is fenced
// before it ends). The group never runs on both.
func TestPairFenceRaceHolderWins(t *testing.T) {
	h := newPairHarness(t)
	h.partition("n1", "n2")
	h.waitFor("n2 fenced and web back on n1", 20*time.Second, func() bool {
		n := h.agents["n1"].fsm.Read().Nodes["n2"]
		return h.isOff("n2") && h.startedOn("n1") && n != nil && n.Status == "fenced"
	})
	if h.isOff("n1") {
		t.Fatal("both nodes were fenced")
	}
	d := h.agents["n1"].fsm.Read()
	if n := d.Nodes["n2"]; n == nil || n.Status != "fenced" {
		t.Fatalf("n2's committed state %+v, want fenced", n)
	}
	if len(d.Fencing) == 0 || d.Fencing[len(d.Fencing)-1].Target != "n2" || !d.Fencing[len(d.Fencing)-1].OK {
		t.Fatalf("fence history %+v, want n2 fenced", d.Fencing)
	}
	h.check()
}

// The holder loses power: the standby fences it (confirmed off), continues
// alone and starts the group.
func TestPairHolderPowerOffFailsOver(t *testing.T) {
	h := newPairHarness(t)
	h.powerOff("n1")
	h.waitFor("web started on n2", 20*time.Second, func() bool { return h.startedOn("n2") })
	m, err := h.agents["n2"].raft.Membership()
	if err != nil || len(m.Voters) != 1 || m.Voters[0] != "n2" {
		t.Fatalf("survivor's voters %+v (%v), want only n2", m, err)
	}
	h.check()
}

// A clean stop of the standby: it leaves the voters before exiting, so the
// holder keeps its quorum and the group without a gap, and nobody is fenced.
func TestPairCleanStopKeepsTheService(t *testing.T) {
	h := newPairHarness(t)
	done := make(chan struct{})
	go func() { h.stop["n2"](); close(done) }()
	for stopped := false; !stopped; {
		select {
		case <-done:
			stopped = true
		case <-time.After(5 * time.Millisecond):
		}
		if on := h.held.on("web"); len(on) != 1 || on[0] != "n1" {
			t.Fatalf("web runs on %v while n2 stops cleanly; want n1 throughout", on)
		}
	}
	m, err := h.agents["n1"].raft.Membership()
	if err != nil || len(m.Voters) != 1 || m.Voters[0] != "n1" {
		t.Fatalf("n1's voters after n2's clean stop: %+v (%v), want n1 alone", m, err)
	}
	deadline := time.Now().Add(2 * time.Second) // several lease and detection periods
	for time.Now().Before(deadline) {
		if !h.startedOn("n1") {
			t.Fatal("n1 lost the group after n2 left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.isOff("n2") {
		t.Error("n2 was fenced after a clean stop")
	}
	h.check()
}
