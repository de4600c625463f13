package lab

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The shutdown tests stop agents with real signals: n1, n2 and the witness
// w, no fencing, the group "web" (VIP + a hello server) preferring n1. A
// node stopped while holding the group keeps its "leaving" mark across a
// restart until issue 9 item 1 is merged, so each scenario that drains gets
// its own cluster.

// vipHolder is the resource node holding the VIP now.
func vipHolder(t *testing.T, c *Cluster) string {
	t.Helper()
	h := c.VIPHoldersOf(LifecycleVIP)
	if len(h) != 1 {
		t.Fatalf("VIP holders %v, want one", h)
	}
	return h[0]
}

// A stop that fails on the way out makes `vigil agent` exit non-zero with an
// error naming what is still running.
func TestShutdownFailedFinalStopExitsNonZero(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabsa"))
	node := vipHolder(t, c)
	c.Touch(c.StopFile(node, "stop.fails"))
	p := c.Agent(node)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTimeout(30 * time.Second); err != nil && ExitCode(err) == 0 {
		t.Fatalf("agent did not exit: %v", err)
	}
	code := ExitCode(p.Wait())
	log := LogSince(p, "==== ")
	if code == 0 {
		t.Fatalf("agent exited 0 although web/web is still running on %s", node)
	}
	if !strings.Contains(log, "web/web (stop failed") || !strings.Contains(log, "stop refused") {
		t.Fatalf("exit %d; the error does not name web/web and its stop error:\n%s", code, lastLines(log, 15))
	}
	if c.Node(node).Host.HasAddr(LifecycleVIP) {
		t.Fatal("the VIP was left behind")
	}
}

// A second SIGTERM while the hand-over waits for a hanging stop removes the
// VIP and exits at once, non-zero, naming what it left running.
func TestShutdownSecondSignalRemovesAddressAndExits(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabsb"))
	node := vipHolder(t, c)
	// The holder must not lead: a leader's hand-over starts with a
	// leadership transfer (TestShutdownMaintenanceAndLeaderHandOver), and
	// this scenario is about the second signal.
	c.Eventually(30*time.Second, node+" not the leader", func() error {
		st, err := c.Status("w")
		if err != nil {
			return err
		}
		if st.Leader == node || st.Leader == "" {
			_, err := c.CLI(node, "leader", "transfer", "w")
			return fmt.Errorf("leader %q (transfer: %v)", st.Leader, err)
		}
		return nil
	})
	c.WaitVIPOn(LifecycleVIP, node, 30*time.Second)
	c.Touch(c.StopFile(node, "stop.hangs"))
	p := c.Agent(node)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The hand-over stops the server first (reverse order): it hangs, so the
	// VIP is still here when the operator loses patience.
	time.Sleep(2 * time.Second)
	if p.Exited() || !c.Node(node).Host.HasAddr(LifecycleVIP) {
		t.Fatalf("scenario not reached: exited %v, VIP here %v", p.Exited(), c.Node(node).Host.HasAddr(LifecycleVIP))
	}
	second := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTimeout(10 * time.Second); err != nil && ExitCode(err) == 0 {
		t.Fatalf("agent still running 10 s after the second signal: %v", err)
	}
	took := time.Since(second)
	t.Logf("exited %v after the second signal", took)
	if took > 3*time.Second {
		t.Errorf("exit took %v after the second signal, want at once", took)
	}
	if c.Node(node).Host.HasAddr(LifecycleVIP) {
		t.Error("the second signal must remove the VIP")
	}
	if code := ExitCode(p.Wait()); code == 0 || !strings.Contains(LogSince(p, "==== "), "web/web") {
		t.Errorf("exit %d; want non-zero naming web/web:\n%s", code, lastLines(LogSince(p, "==== "), 10))
	}
}

// In maintenance, shutdown leaves the resources as they are and does not
// wait; a clean stop of a holder that leads hands leadership over first.
func TestShutdownMaintenanceAndLeaderHandOver(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabsc"))
	const settle = 30 * time.Second

	t.Run("MaintenanceLeavesResourcesAndDoesNotWait", func(t *testing.T) {
		node := vipHolder(t, c)
		leader := c.WaitHealthy(settle)
		if out, err := c.CLI(leader, "maintenance", "on"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		p := c.Agent(node)
		start := time.Now()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitTimeout(20 * time.Second); err != nil {
			t.Fatalf("agent in maintenance: %v", err)
		}
		took := time.Since(start)
		t.Logf("agent in maintenance exited after %v", took)
		if took > 3*time.Second {
			t.Errorf("shutdown in maintenance took %v: it must not wait for a drain", took)
		}
		if !c.Node(node).Host.HasAddr(LifecycleVIP) {
			t.Error("maintenance: the VIP must be left in place")
		}
		// The upgrade routine: the agent stays down for several leases
		// (its group must neither be released nor its node fenced), starts
		// again with a state machine that knows nothing of maintenance until
		// the leader tells it what is committed, then maintenance ends. The
		// VIP must stay on node, alone, throughout.
		holders := SampleHolders(c.hosts(), LifecycleVIP, 5*time.Millisecond)
		time.Sleep(1500 * time.Millisecond) // five leases at the lab's fast preset
		c.Start(node)
		leader = c.WaitHealthy(settle)
		if out, err := c.CLI(leader, "maintenance", "off"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		c.WaitVIPOn(LifecycleVIP, node, settle)
		time.Sleep(time.Second)
		vipStayed(t, c, holders, start, leader, "the restart in maintenance", "group-released", "fence", "assign")
	})

	t.Run("LeaderHolderHandsGroupsOverThenLeadership", func(t *testing.T) {
		node := arrangeHolderLeader(t, c, settle)
		p := c.Agent(node)
		if err := p.Stop(settle); err != nil {
			t.Fatalf("clean stop of %s: %v", node, err)
		}
		checkLeaderHolderDrain(t, p, node)
		c.WaitVIPOn(LifecycleVIP, Other(node), settle)
	})
}

// checkLeaderHolderDrain reads the log of a leader that held the group and
// was stopped cleanly: it handed the group over under its own leadership,
// its lease holding throughout (a lapse counts from the stop on: one right
// after an election, before the group started here, dropped nothing), and
// then leadership to the witness, the one voter that holds nothing.
func checkLeaderHolderDrain(t *testing.T, p *Proc, node string) {
	t.Helper()
	log := LogSince(p, "==== ")
	stop := max(strings.Index(log, "shutting down"), 0)
	hand, drain := strings.Index(log, "handed leadership over: to=w"), strings.Index(log, "groups handed over")
	if hand < 0 || drain < 0 || drain > hand || strings.Contains(log[stop:drain], "lease ended") {
		t.Fatalf("%s did not hand its group over under its own lease, then leadership to w:\n%s", node, lastLines(log, 30))
	}
}

// arrangeHolderLeader makes the VIP holder the raft leader (moving the group
// to the leader, re-electing while the witness leads) and returns it.
func arrangeHolderLeader(t *testing.T, c *Cluster, settle time.Duration) string {
	t.Helper()
	for range 10 {
		leader := c.WaitHealthy(settle)
		if leader == "w" {
			c.Restart("w")
			continue
		}
		if h := c.VIPHoldersOf(LifecycleVIP); len(h) == 1 && h[0] == leader {
			return leader
		}
		for _, args := range [][]string{{"resource", "move", LifecycleGroup, leader}, {"resource", "clear", LifecycleGroup}} {
			if out, err := c.CLI(leader, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if args[1] == "move" {
				c.WaitVIPOn(LifecycleVIP, leader, settle)
			}
		}
	}
	t.Fatal("could not make the VIP holder the leader")
	return ""
}

// TestLeaderHolderStopAfterPeersRestarted is a rolling restart's next step:
// the VIP holder was restarted (in maintenance, so the group stayed), then
// the witness, which led, so the holder now leads. Stopping the holder
// hands the group over under its own leadership, then leadership to the
// witness, whose pooled raft connections to the restarted peers may be
// dead (TestPooledRaftConnectionSurvivesPeerRestart covers that case
// exactly): the stopping node's lease must hold while it holds the group,
// and the witness must lead afterwards. Three rounds. (It used to transfer
// leadership first; in one CI run the new leader answered after the old
// one's carried lease had ended, and the group stopped and started again.)
func TestLeaderHolderStopAfterPeersRestarted(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabsd"))
	const settle = 30 * time.Second
	for round := range 3 {
		c.Eventually(settle, "the witness leads, one VIP holder", func() error {
			if h := c.VIPHoldersOf(LifecycleVIP); len(h) != 1 {
				return fmt.Errorf("VIP holders %v", h)
			}
			if l := c.WaitHealthy(settle); l != "w" {
				_, err := c.CLI(l, "leader", "transfer", "w")
				return fmt.Errorf("leader %s (transfer: %v)", l, err)
			}
			return nil
		})
		node := vipHolder(t, c)
		if out, err := c.CLI("w", "maintenance", "on"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		c.Restart(node)
		leader := c.WaitHealthy(settle)
		if out, err := c.CLI(leader, "maintenance", "off"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		c.WaitVIPOn(LifecycleVIP, node, settle)

		if node = arrangeHolderLeader(t, c, settle); node == "w" {
			t.Fatal("the witness holds the VIP")
		}
		p := c.Agent(node)
		if err := p.Stop(settle); err != nil {
			t.Fatalf("round %d: clean stop of %s: %v", round, node, err)
		}
		checkLeaderHolderDrain(t, p, node)
		c.WaitVIPOn(LifecycleVIP, Other(node), settle)
		c.Start(node)
	}
}
