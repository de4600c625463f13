package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// Lifecycle scenarios of issue 9 on real agents: restarts of the holder, a
// node that boots late, and `maintenance = true` in the config. The group is
// FenceGroupHCL's "vip" (VIP + a stand-in service, prefer n1, no failback).

// TestRestartOfTheHolder restarts (SIGTERM, then start with the same
// data_dir) the load balancer holding the group ten times, alternating
// between n1 and n2 as the group moves. After each restart both must be
// eligible (online, not leaving) within 2 s of the new agent answering, and
// the group must run on exactly one node; a sampler checks both nodes'
// addresses every 10 ms throughout.
func TestRestartOfTheHolder(t *testing.T) {
	l := New(t, "vlabr")
	c := StartCluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: FenceGroupHCL(l.Dir())})
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	c.SettleOn(FenceGroup, "n1", settle)
	waitVIPOnly(t, c, "n1", settle)
	holders := SampleHolders([]*Host{c.Node("n1").Host, c.Node("n2").Host}, FenceVIP, 10*time.Millisecond)

	var took []time.Duration
	holder := "n1"
	for i := range 10 {
		other := Other(holder)
		c.Restart(holder)
		// The clock starts when the new agent answers its API: process
		// start-up on a loaded machine is not the cluster's doing.
		c.Eventually(10*time.Second, "restarted "+holder+" answering", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := c.LocalStatus(ctx, holder)
			return err
		})
		start := time.Now()
		err := poll(2*time.Second, 20*time.Millisecond, func() error { return bothEligible(c) })
		took = append(took, time.Since(start).Round(10*time.Millisecond))
		if err != nil {
			st, _ := c.Status("w")
			t.Fatalf("restart %d of the holder %s: not both eligible 2 s after its agent started: %v\n%s", i+1, holder, err, summary(st))
		}
		// The drain moved the group to the other node; it stays there.
		waitVIPOnly(t, c, other, settle)
		c.Eventually(settle, "group started on "+other, func() error {
			st, err := c.Status("w")
			if err != nil {
				return err
			}
			if g, _ := GroupOf(st, FenceGroup); g.Node != other || g.State != "started" {
				return fmt.Errorf("group %s %s on %q", g.Name, g.State, g.Node)
			}
			return nil
		})
		holder = other
	}
	holders.Stop()
	if s, ok := holders.FirstOverlap(); ok {
		t.Errorf("VIP held by %v at %s", s.Hosts, s.Time.Format("15:04:05.000"))
	}
	t.Logf("both eligible after each restart in %v (%d address samples)", took, len(holders.Samples()))
}

// bothEligible: the witness's status shows n1 and n2 online (not leaving,
// not in standby) with both links up.
func bothEligible(c *Cluster) error {
	st, err := c.Status("w")
	if err != nil {
		return err
	}
	for _, n := range []string{"n1", "n2"} {
		ns, _ := NodeOf(st, n)
		if ns.State != "online" || ns.ClusterLink != "ok" {
			return fmt.Errorf("%s is %s (cluster link %s)", n, ns.State, ns.ClusterLink)
		}
	}
	return nil
}

// waitVIPOnly waits until node, and no other load balancer, holds the VIP.
func waitVIPOnly(t *testing.T, c *Cluster, node string, timeout time.Duration) {
	t.Helper()
	c.Eventually(timeout, "VIP on "+node+" only", func() error {
		var on []string
		for _, n := range []string{"n1", "n2"} {
			if c.Node(n).Host.HasAddr(FenceVIP) {
				on = append(on, n)
			}
		}
		if !slices.Equal(on, []string{node}) {
			return fmt.Errorf("VIP holders %v", on)
		}
		return nil
	})
}

// TestLateNodeIsNeitherFencedNorGivenTheGroup starts n2 and the witness with
// fencing configured (ipmi_sim BMCs), and n1, the preferred node, five
// seconds later: n1 is never fenced (no fence record, its BMC never told to
// power off), the group runs on n2 before n1 joins and stays there once n1
// is online (failback = false).
func TestLateNodeIsNeitherFencedNorGivenTheGroup(t *testing.T) {
	l := New(t, "vlabj")
	fc := PrepareFencedCluster(l, FenceSpec{LogLevel: "info"})
	holders := SampleHolders([]*Host{fc.Node("n1").Host, fc.Node("n2").Host}, FenceVIP, 10*time.Millisecond)
	const settle = 30 * time.Second
	start := time.Now()
	fc.Start("n2")
	fc.Start("w")
	fc.WaitVIP("n2", settle)
	if wait := time.Until(start.Add(5 * time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	if fc.Running("n1") {
		t.Fatal("n1 runs before it was started")
	}
	joinAt := time.Now()
	fc.Start("n1")
	fc.WaitHealthy(settle)
	// n1 online: the leader has placed with n1 eligible. Watch a while:
	// the group must not come back to n1.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if h := fc.VIPHolders(); !slices.Equal(h, []string{"n2"}) {
			t.Fatalf("after n1 joined, VIP holders %v; want n2 only (failback = false)", h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := mustStatus(t, fc.Cluster, "w")
	if len(st.Fencing) > 0 {
		t.Errorf("fence attempts: %+v", st.Fencing)
	}
	if n := fc.BMCs["n1"].CountCalls("set power 0"); n > 0 || !fc.Running("n1") {
		t.Errorf("n1 powered off (%d power-off calls to its BMC, agent running %v)", n, fc.Running("n1"))
	}
	if g, _ := GroupOf(st, FenceGroup); g.Node != "n2" || g.State != "started" {
		t.Errorf("group %s %s on %q; want started on n2", g.Name, g.State, g.Node)
	}
	for _, e := range history(t, fc.Cluster, "w") {
		if e.Node == "n1" && (e.Kind == "assign" || e.Kind == "node-failed" || e.Kind == "fence") {
			t.Errorf("history: %s %s", e.Kind, e.Message)
		}
	}
	first := firstHeld(holders, "n2", start)
	if first.IsZero() || !first.Before(joinAt) {
		t.Errorf("VIP first on n2 at %s, n1 started at %s: want the group running before n1 joined",
			first.Format("15:04:05.000"), joinAt.Format("15:04:05.000"))
	}
	holders.Stop()
	if m := holders.MaxHolders(); m > 1 {
		t.Errorf("VIP held by %d nodes at once", m)
	}
}

// TestConfigMaintenanceAtFirstStart starts a new cluster whose config says
// `maintenance = true`: it must behave exactly as after `vigil maintenance
// on`: status says so and nothing is started, not even at first start, until
// `vigil maintenance off`.
func TestConfigMaintenanceAtFirstStart(t *testing.T) {
	l := New(t, "vlabm")
	c := prepareCluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: FenceGroupHCL(l.Dir())}, Vigil(t))
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(n.Config, append([]byte("maintenance = true\n"), b...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		c.Start(n.Name)
	}
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	c.Eventually(settle, "maintenance on", func() error {
		st, err := c.Status("w")
		if err == nil && !st.Maintenance {
			err = fmt.Errorf("status: maintenance off")
		}
		return err
	})
	text, err := c.CLI("w", "status")
	if err != nil || !strings.Contains(text, "MAINTENANCE MODE") {
		t.Errorf("vigil status (err %v) does not show maintenance:\n%s", err, text)
	}
	if out, err := c.CLI("w", "maintenance", "off"); err != nil {
		t.Fatalf("vigil maintenance off: %v\n%s", err, out)
	}
	waitVIPOnly(t, c, "n1", settle)
	// The proof that nothing started before: in the replicated history the
	// first assignment comes after maintenance was turned off, and
	// maintenance was on before it.
	var on, off, assign uint64
	for _, e := range history(t, c, "w") {
		switch {
		case e.Kind == "maintenance" && strings.Contains(e.Message, "maintenance on") && on == 0:
			on = e.Index
		case e.Kind == "maintenance" && strings.Contains(e.Message, "maintenance off") && off == 0:
			off = e.Index
		case e.Kind == "assign" && assign == 0:
			assign = e.Index
		}
	}
	if on == 0 || off == 0 || assign == 0 || !(on < off && off < assign) {
		t.Errorf("history indexes: maintenance on %d, off %d, first assignment %d; want on < off < assignment", on, off, assign)
	}
}

// history is the cluster's event history as node reports it, oldest first.
func history(t *testing.T, c *Cluster, node string) []api.Event {
	t.Helper()
	out, err := c.CLI(node, "history", "-json", "-n", "1000")
	if err != nil {
		t.Fatalf("vigil history: %v\n%s", err, out)
	}
	var ev []api.Event
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("vigil history -json: %v: %q", err, out)
	}
	sort.Slice(ev, func(i, j int) bool { return ev[i].Index < ev[j].Index })
	return ev
}

// TestClusterBootStartsTheGroupOnItsPreferredNode boots a new cluster (the
// default `lan` timing) with n1, the preferred node, slow on the cluster
// link: its cluster port is cut off at first, its heartbeat link is up, so
// the witness and n2 elect a leader that n1's raft has not answered. The
// group waits for n1 and starts there once n1 answers: the VIP is never on
// n2. (The leader used to start it on n2 at once, and failback = false kept
// it there.) Then again from empty data dirs with n1's cluster link cut for
// good: the wait lasts a lease, and the group starts on n2 (availability
// first) and stays there after n1 joins.
func TestClusterBootStartsTheGroupOnItsPreferredNode(t *testing.T) {
	l := New(t, "vlabcb")
	c := prepareCluster(l, ClusterSpec{Preset: "lan", LogLevel: "info", Extra: FenceGroupHCL(l.Dir())}, Vigil(t))
	const settle = 30 * time.Second
	n1, n2 := c.Node("n1").Host, c.Node("n2").Host
	boot := func() (*Holders, time.Time) {
		l.Partition(Pub, n1, nil)
		holders := SampleHolders([]*Host{n1, n2}, FenceVIP, 10*time.Millisecond)
		start := time.Now()
		for _, n := range []string{"w", "n2", "n1"} {
			c.Start(n)
		}
		c.Eventually(settle, "a leader", func() error {
			st, err := c.Status("w")
			if err == nil && st.Leader == "" {
				err = fmt.Errorf("no leader yet")
			}
			return err
		})
		return holders, start
	}

	holders, start := boot()
	time.Sleep(time.Second) // the leader has had every chance to place the group
	elected := time.Now()
	l.Heal()
	waitVIPOnly(t, c, "n1", settle)
	holders.Stop()
	if at := firstHeld(holders, "n2", start); !at.IsZero() {
		t.Errorf("VIP on n2 at %s (boot at %s)", at.Format("15:04:05.000"), start.Format("15:04:05.000"))
	}
	t.Logf("n1 slow: VIP on n1 %v after its cluster link came back", firstHeld(holders, "n1", start).Sub(elected).Round(time.Millisecond))

	for _, n := range []string{"n1", "n2", "w"} {
		c.Stop(n)
	}
	for _, n := range c.Nodes {
		if err := os.RemoveAll(n.DataDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	holders, start = boot()
	waitVIPOnly(t, c, "n2", settle)
	onN2 := firstHeld(holders, "n2", start)
	l.Heal()
	c.WaitHealthy(settle)
	time.Sleep(time.Second)
	holders.Stop()
	if h := c.VIPHoldersOf(FenceVIP); !slices.Equal(h, []string{"n2"}) {
		t.Errorf("after n1 joined late: VIP on %v; want n2 (failback = false)", h)
	}
	t.Logf("n1 cut off: VIP on n2 %v after the first agent started", onN2.Sub(start).Round(time.Millisecond))
}
