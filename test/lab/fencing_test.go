package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/configs"
)

// TestFencing runs n1, n2 and the witness w with one ipmi_sim BMC per
// resource node (n1 through vigil's ipmi device, n2 through Debian's
// fence_ipmilan as an exec device) and the group "vip" (VIP + a service),
// preferring n1 without failback. Subtests share the cluster and run in
// order; each leaves it healthy with the group started. A sampler reads both
// nodes' addresses every 10 ms throughout: the VIP must never be held twice.
func TestFencing(t *testing.T) {
	l := New(t, "vlabf")
	fc := StartFencedCluster(l, FenceSpec{
		Devices: map[string]FenceDevice{"n1": FenceIPMI, "n2": FenceIpmilan},
		// n1 wins a fence race: fencing it waits 300 ms; n2 up to 300 ms at random.
		Delay:    map[string]string{"n1": "300ms"},
		DelayMax: map[string]string{"n2": "300ms"},
	})
	holders := SampleHolders([]*Host{fc.Node("n1").Host, fc.Node("n2").Host}, FenceVIP, 10*time.Millisecond)
	const settle = 30 * time.Second

	// noOverlap fails t if any sample since from shows two holders.
	noOverlap := func(t *testing.T, from time.Time) {
		t.Helper()
		for _, s := range holders.Samples() {
			if !s.Time.Before(from) && len(s.Hosts) > 1 {
				t.Errorf("VIP held by %v at %s", s.Hosts, s.Time.Format("15:04:05.000"))
				return
			}
		}
	}

	t.Run("PowerOffOfActiveIsFencedThenVIPMoves", func(t *testing.T) {
		from := time.Now()
		active := fc.Active()
		other := Other(active)
		fc.CutPower(active)
		fc.WaitVIP(other, settle)
		st := waitFenced(t, fc, active)
		expectFencedBeforeMove(t, fc, holders, st, active, other, from)
		// Off, its host answered on neither link: judged failed (and
		// fenced) at once, not at its lease end.
		if !silentVerdict(t, fc, active, from) {
			t.Errorf("%s was powered off, yet never judged failed for a host answering on neither link", active)
		}
		noOverlap(t, from)
		fc.rejoin(t, active, other)
		noOverlap(t, from)
	})

	t.Run("FrozenAgentIsFencedBeforeVIPMoves", func(t *testing.T) {
		from := time.Now()
		active := fc.Active()
		other := Other(active)
		// All of vigil frozen, its crash guard too (which would otherwise
		// drop the VIP at the lease deadline: TestCrashGuard).
		gp := guardPid(t, fc.Node(active).Host)
		if gp <= 0 {
			t.Fatalf("no crash guard on %s", active)
		}
		if err := syscall.Kill(gp, syscall.SIGSTOP); err != nil {
			t.Fatalf("freeze %s's crash guard: %v", active, err)
		}
		fc.Node(active).Host.Freeze(fc.Agent(active))
		fc.WaitVIP(other, settle)
		st := waitFenced(t, fc, active)
		// The frozen agent could not release the VIP: it stayed on its
		// interface until the BMC cut the power.
		tm, _ := configs.TimingPreset("fast") // the fixture's preset
		if last := lastHeld(holders, active); last.Before(from.Add(tm.Lease)) {
			t.Errorf("VIP left frozen %s at %s, before its lease could even run out; the test proves nothing",
				active, last.Format("15:04:05.000"))
		}
		expectFencedBeforeMove(t, fc, holders, st, active, other, from)
		// Its kernel still answers a connection attempt: no evidence that
		// it is off, so the lease decided (fenced when it ran out).
		if silentVerdict(t, fc, active, from) {
			t.Errorf("frozen %s judged failed for a silent host; its kernel answers", active)
		}
		noOverlap(t, from)
		fc.rejoin(t, active, other)
	})

	t.Run("UnreachableBMCBlocksRecoveryUntilItAnswers", func(t *testing.T) {
		from := time.Now()
		active := fc.Active()
		other := Other(active)
		l.LinkDown(fc.BMCHosts[active], HB)
		fc.CutPower(active)
		var st api.Status
		fc.Eventually(settle, active+" failed with failed fence attempts", func() error {
			var err error
			if st, err = fc.Status("w"); err != nil {
				return err
			}
			if ns, _ := NodeOf(st, active); ns.State != "failed" {
				return fmt.Errorf("%s is %q", active, ns.State)
			}
			if n := len(FenceRecords(st, active, "failed")); n < 2 {
				return fmt.Errorf("%d failed fence records for %s", n, active)
			}
			return nil
		})
		// Several retry rounds: the group must stay where it was, stopped.
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if h := fc.VIPHolders(); len(h) > 0 {
				t.Fatalf("VIP held by %v while %s is unfenced", h, active)
			}
			st = mustStatus(t, fc.Cluster, "w")
			if g, _ := GroupOf(st, FenceGroup); g.Node == other || g.State == "started" {
				t.Fatalf("group %s %s on %q while %s is unfenced", g.Name, g.State, g.Node, active)
			}
			time.Sleep(100 * time.Millisecond)
		}
		fails := FenceRecords(st, active, "failed")
		for _, f := range fails {
			if f.Error == "" || f.Device != active+"-bmc" {
				t.Errorf("failed fence record without device or error: %+v", f)
			}
			if strings.Contains(f.Error, fc.BMCs[active].Password) {
				t.Errorf("fence error leaks the BMC password: %q", f.Error)
			}
		}
		g, _ := GroupOf(st, FenceGroup)
		text, _ := fc.CLI("w", "status")
		t.Logf("status while the BMC of %s is unreachable (%d failed attempts):\n%s", active, len(fails), text)
		if !strings.Contains(text, "failed") || !strings.Contains(text, active+" via "+active+"-bmc: failed") {
			t.Errorf("`vigil status` does not show %s failed and its failed fencing:\n%s", active, text)
		}
		if !strings.Contains(g.Reason, "fenced") || !strings.Contains(g.Reason, "failed") {
			t.Errorf("group %s (%s on %q) reason %q; want it to say it waits for fencing, which failed", g.Name, g.State, g.Node, g.Reason)
		}

		l.LinkUp(fc.BMCHosts[active], HB)
		fc.WaitVIP(other, settle)
		st = waitFenced(t, fc, active)
		expectFencedBeforeMove(t, fc, holders, st, active, other, from)
		noOverlap(t, from)
		fc.rejoin(t, active, other)
	})

	t.Run("ManualFenceFromCLI", func(t *testing.T) {
		from := time.Now()
		// The leader holds the VIP, so the target is the standby: a node
		// fenced before anyone saw it lost (both links still look up for a
		// moment) must stay fenced.
		leader := fc.ArrangeLeaderOnActive(settle)
		out, err := fenceCLI(fc, "w", "", "-yes", leader)
		if err == nil || !strings.Contains(out, "never fences itself") {
			t.Errorf("vigil fence -yes %s (the leader): err %v, output %q; want a refusal", leader, err, out)
		}
		if fc.PoweredOff(leader) {
			t.Fatalf("the leader %s fenced itself", leader)
		}
		target := Other(leader)
		t.Logf("leader %s holds the VIP; fencing %s on purpose", leader, target)
		out, err = fenceCLI(fc, "w", "nope\n", target)
		if err == nil || fc.PoweredOff(target) {
			t.Fatalf("vigil fence %s without -yes, answer \"nope\": err %v, powered off %v; want refused, nothing done\n%s",
				target, err, fc.PoweredOff(target), out)
		}
		out, err = fenceCLI(fc, "w", "", "-yes", target)
		if err != nil {
			t.Fatalf("vigil fence -yes %s: %v\n%s", target, err, out)
		}
		if !strings.Contains(out, "fenced") || !fc.PoweredOff(target) || fc.BMCs[target].PoweredOn() {
			t.Fatalf("vigil fence -yes %s: output %q, powered off %v, BMC on %v", target, out, fc.PoweredOff(target),
				fc.BMCs[target].PoweredOn())
		}
		waitFenced(t, fc, target)
		// Once both links have lost it, the node could be re-judged (failed,
		// offline); it must stay fenced until it comes back.
		var ns api.NodeStatus
		fc.Eventually(settle, target+" lost on both links", func() error {
			st, err := fc.Status("w")
			if err != nil {
				return err
			}
			ns, _ = NodeOf(st, target)
			if ns.Heartbeat != "lost" || ns.ClusterLink != "lost" {
				return fmt.Errorf("%s: heartbeat %q, cluster link %q", target, ns.Heartbeat, ns.ClusterLink)
			}
			return nil
		})
		if ns.State != "fenced" {
			t.Errorf("%s is %q once lost on both links after its fence; want fenced until it comes back", target, ns.State)
		}
		noOverlap(t, from)
		fc.rejoin(t, target, leader)
	})

	t.Run("FailedStopFencesTheNode", func(t *testing.T) {
		from := time.Now()
		// The node whose stop fails must not be the leader: it never fences
		// itself.
		leader, active := fc.ArrangeLeaderOnStandby(settle)
		cut := time.Now()
		stuck := fc.StopFailsFile(active)
		if err := os.WriteFile(stuck, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := fc.CLI("w", "node", "standby", active); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		fc.WaitVIP(leader, settle)
		st := waitFenced(t, fc, active)
		expectFencedBeforeMove(t, fc, holders, st, active, leader, cut)
		if rec := FenceRecords(st, active, "ok"); !strings.Contains(rec[len(rec)-1].Reason, "blocked") {
			t.Errorf("fence reason %q; want the blocked group named", rec[len(rec)-1].Reason)
		}
		noOverlap(t, from)
		if err := os.Remove(stuck); err != nil {
			t.Fatal(err)
		}
		if out, err := fc.CLI("w", "node", "online", active); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		fc.rejoin(t, active, leader)
	})

	// n1 and n2 cut from each other on both links, both still reaching w.
	// Raft keeps one leader; only the leader fences, so at most one node can
	// be fenced, and the VIP must end up on exactly one node.
	t.Run("PartitionOfResourceNodesFencesAtMostOne", func(t *testing.T) {
		from := time.Now()
		// The hard case: the leader is the standby. The active node loses
		// the leader (its lease runs out and it stops the VIP) while its
		// heartbeat still reaches the leader through w.
		leader, active := fc.ArrangeLeaderOnStandby(settle)
		cut := time.Now()
		t.Logf("partition n1 | n2 on both links (w sees both): leader %s, VIP on %s", leader, active)
		n1, n2 := fc.Node("n1").Host, fc.Node("n2").Host
		l.Partition(Pub, n1, n2)
		l.Partition(HB, n1, n2)
		fc.Eventually(settle, "VIP on the leader "+leader, func() error {
			if fc.PoweredOff(leader) {
				t.Fatalf("the leader %s was powered off", leader)
			}
			if h := fc.VIPHolders(); !slices.Equal(h, []string{leader}) {
				return fmt.Errorf("VIP holders %v", h)
			}
			return nil
		})
		st := waitFenced(t, fc, active)
		expectFencedBeforeMove(t, fc, holders, st, active, leader, cut)
		if ns, _ := NodeOf(st, leader); ns.State != "online" || len(since(FenceRecords(st, leader, ""), cut)) > 0 {
			t.Errorf("leader %s: state %q, fence records %v", leader, ns.State, since(FenceRecords(st, leader, ""), cut))
		}

		// The easy case, now that the leader holds the VIP: nobody is
		// fenced and the VIP stays where it is.
		fc.Eventually(settle, "leader still "+leader, func() error {
			st, err := fc.Status("w")
			if err == nil && st.Leader != leader {
				err = fmt.Errorf("leader %s", st.Leader)
			}
			return err
		})
		fences := len(mustStatus(t, fc.Cluster, "w").Fencing)
		fc.PowerOnNode(active) // it comes back still cut off from the leader
		// The VIP never reaches the node cut off from the leader. On the
		// leader it may go for a moment: a crash guard acts on the last
		// deadline its agent sent, so an agent stalled for a few tens of
		// milliseconds on a busy machine (CI once) loses the address under a
		// lease that still held, and puts it back at once (executor
		// GuardLapsed). A gap of a monitor interval or more is a failure.
		deadline := time.Now().Add(5 * time.Second)
		var gone time.Time
		for time.Now().Before(deadline) {
			switch h := fc.VIPHolders(); {
			case slices.Equal(h, []string{leader}):
				if !gone.IsZero() {
					t.Logf("the VIP was gone from the leader %s for less than %v", leader, time.Since(gone).Round(time.Millisecond))
				}
				gone = time.Time{}
			case len(h) == 0 && gone.IsZero():
				gone = time.Now()
			case len(h) == 0 && time.Since(gone) < 500*time.Millisecond:
			default:
				t.Fatalf("VIP holders %v with the leader %s holding it and %s cut off", h, leader, active)
			}
			time.Sleep(50 * time.Millisecond)
		}
		st = mustStatus(t, fc.Cluster, "w")
		if len(st.Fencing) != fences || fc.PoweredOff(active) {
			t.Errorf("%s, holding nothing, was fenced during the partition: %v", active, st.Fencing[fences:])
		}
		t.Logf("partition with the VIP on the leader:\n%s", summary(st))
		l.Heal()
		fc.WaitHealthy(settle)
		fc.WaitVIP(leader, settle)
		noOverlap(t, from)
	})

	t.Run("LeaderCutOffFromBothNodesFencesNobody", func(t *testing.T) {
		// The witness leads and loses both resource nodes on both links,
		// while it still reaches their BMCs (other ports of the heartbeat
		// network). Its probes of n1 and n2 go unanswered exactly as after
		// a power cut, but it has no quorum left to commit a verdict, and
		// nothing is fenced before its verdict is committed: nobody is
		// fenced. n1 and n2 elect a leader of their own and the group
		// stays where it runs.
		from := time.Now()
		fc.WaitHealthy(settle)
		fc.LeadOn("w", settle)
		active := fc.Active()
		fences := len(mustStatus(t, fc.Cluster, "w").Fencing)
		offs := map[string]int{}
		for _, n := range []string{"n1", "n2"} {
			offs[n] = fc.BMCs[n].CountCalls("set power 0")
		}
		silentBefore := strings.Count(agentLog(t, fc.Cluster, "w"), "host answers on neither link")
		w := fc.Node("w").Host
		for _, link := range []string{Pub, HB} {
			for _, n := range []string{"n1", "n2"} {
				l.Partition(link, w, fc.Node(n).Host)
			}
		}
		fc.Eventually(settle, "a leader among n1 and n2", func() error {
			st, err := fc.Status(active)
			if err == nil && (st.Leader == "" || st.Leader == "w") {
				err = fmt.Errorf("leader %q", st.Leader)
			}
			return err
		})
		// Several leases: the VIP never on the other node (it may drop
		// from the holder for a moment while n1 and n2 elect a leader:
		// BenchmarkLeaderLossHolderGap), and back on the holder.
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if h := fc.VIPHolders(); len(h) > 1 || len(h) == 1 && h[0] != active {
				t.Fatalf("VIP holders %v; the group ran on %s", h, active)
			}
			time.Sleep(50 * time.Millisecond)
		}
		fc.WaitVIP(active, settle)
		for _, n := range []string{"n1", "n2"} {
			if k := fc.BMCs[n].CountCalls("set power 0"); k != offs[n] || fc.PoweredOff(n) {
				t.Errorf("%s: %d power-off calls to its BMC during the cut (powered off: %v)", n, k-offs[n], fc.PoweredOff(n))
			}
		}
		st := mustStatus(t, fc.Cluster, active)
		if len(st.Fencing) != fences {
			t.Errorf("fence attempts during the cut: %+v", st.Fencing[fences:])
		}
		if k := strings.Count(agentLog(t, fc.Cluster, "w"), "host answers on neither link") - silentBefore; k > 0 {
			t.Logf("w found %d silent hosts while cut off, and fenced none", k)
		} else {
			t.Logf("w's lease ran out before a probe found a host silent")
		}
		l.Heal()
		fc.WaitHealthy(settle)
		noOverlap(t, from)
	})

	holders.Stop()
	if m := holders.MaxHolders(); m > 1 {
		t.Errorf("VIP held by %d nodes at once during the test", m)
	}
	t.Logf("holder sampler: %d samples, %d rounds dropped", len(holders.Samples()), holders.Errors())
}

// silentVerdict reports whether the leader judged node failed since from
// because its host answered on neither link (coordinator/reach.go).
func silentVerdict(t *testing.T, fc *FencedCluster, node string, from time.Time) bool {
	t.Helper()
	for _, e := range history(t, fc.Cluster, "w") {
		if e.Node == node && e.Time.After(from) && strings.Contains(e.Message, "answers on neither link") {
			return true
		}
	}
	return false
}

// waitFenced waits until the cluster reports node fenced, with a successful
// fence record through its BMC device, and the node really off.
func waitFenced(t *testing.T, fc *FencedCluster, node string) api.Status {
	t.Helper()
	var st api.Status
	fc.Eventually(30*time.Second, node+" fenced", func() error {
		var err error
		if st, err = fc.Status("w"); err != nil {
			return err
		}
		if ns, _ := NodeOf(st, node); ns.State != "fenced" {
			return fmt.Errorf("%s is %q", node, ns.State)
		}
		if len(FenceRecords(st, node, "ok")) == 0 {
			return fmt.Errorf("no successful fence record for %s", node)
		}
		return nil
	})
	if !fc.PoweredOff(node) {
		t.Errorf("%s reported fenced but its namespace still runs processes or holds addresses", node)
	}
	if fc.BMCs[node].PoweredOn() || fc.BMCs[node].CountCalls("set power 0") == 0 {
		t.Errorf("%s fenced, but its BMC reads on=%v after calls %v", node, fc.BMCs[node].PoweredOn(), fc.BMCs[node].Calls())
	}
	return st
}

// expectFencedBeforeMove checks that node's last successful fence was
// recorded through its own BMC before the VIP first appeared on other (both
// times from this machine's clock), and that the group runs on other.
func expectFencedBeforeMove(t *testing.T, fc *FencedCluster, hs *Holders, st api.Status, node, other string, from time.Time) {
	t.Helper()
	oks := FenceRecords(st, node, "ok")
	rec := oks[len(oks)-1]
	if rec.Device != node+"-bmc" {
		t.Errorf("%s fenced through %q, want %s-bmc", node, rec.Device, node)
	}
	first := firstHeld(hs, other, from)
	if first.IsZero() || !rec.Time.Before(first) {
		t.Errorf("fence of %s recorded at %s, VIP first seen on %s at %s: the VIP must move only after the fence",
			node, rec.Time.Format("15:04:05.000"), other, first.Format("15:04:05.000"))
	}
	t.Logf("%s fenced via %s in %v (%s); VIP on %s %v after the fence was recorded",
		node, rec.Device, rec.Duration.Round(time.Millisecond), rec.Reason, other, first.Sub(rec.Time).Round(time.Millisecond))
	if g, _ := GroupOf(mustStatus(t, fc.Cluster, "w"), FenceGroup); g.Node != other {
		t.Errorf("group %s on %q (%s), want %s", g.Name, g.Node, g.State, other)
	}
}

// rejoin powers a fenced node back on and checks that it comes back online
// without taking the group back from holder (failback = false).
func (fc *FencedCluster) rejoin(t *testing.T, node, holder string) {
	t.Helper()
	fc.PowerOnNode(node)
	fc.WaitHealthy(30 * time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if h := fc.VIPHolders(); !slices.Equal(h, []string{holder}) {
			t.Fatalf("after %s rejoined, VIP holders %v; want %s only (failback = false)", node, h, holder)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := mustStatus(t, fc.Cluster, node)
	if ns, _ := NodeOf(st, node); ns.State != "online" {
		t.Errorf("rejoined %s is %q, want online", node, ns.State)
	}
	if g, _ := GroupOf(st, FenceGroup); g.Node != holder || g.State != "started" {
		t.Errorf("after %s rejoined, group %s %s on %q; want started on %s", node, g.Name, g.State, g.Node, holder)
	}
}

// since keeps the records at or after from.
func since(recs []api.FenceRecord, from time.Time) []api.FenceRecord {
	var out []api.FenceRecord
	for _, r := range recs {
		if !r.Time.Before(from) {
			out = append(out, r)
		}
	}
	return out
}

// firstHeld is when the sampler first saw node hold the VIP at or after from.
func firstHeld(hs *Holders, node string, from time.Time) time.Time {
	for _, s := range hs.Samples() {
		if !s.Time.Before(from) && slices.Contains(s.Hosts, node) {
			return s.Time
		}
	}
	return time.Time{}
}

// lastHeld is when the sampler last saw node hold the VIP.
func lastHeld(hs *Holders, node string) time.Time {
	var last time.Time
	for _, s := range hs.Samples() {
		if slices.Contains(s.Hosts, node) {
			last = s.Time
		}
	}
	return last
}

// fenceCLI runs `vigil fence ARGS` on node with stdin (for the
// confirmation prompt), allowing for a slow fence agent.
func fenceCLI(fc *FencedCluster, node, stdin string, args ...string) (string, error) {
	n := fc.Node(node)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"netns", "exec", n.Host.ns, fc.Bin, "fence", "-address", "unix://" + n.Socket}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = append(os.Environ(), "VIGIL_ADDR=unix://"+n.Socket)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// summary is a one-line-per-item digest of a status for test logs.
func summary(st api.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "leader %s term %d quorum %v\n", st.Leader, st.Term, st.Quorum)
	for _, n := range st.Nodes {
		fmt.Fprintf(&b, "  node %s %s hb=%s link=%s\n", n.Name, n.State, n.Heartbeat, n.ClusterLink)
	}
	for _, g := range st.Groups {
		fmt.Fprintf(&b, "  group %s %s on %q: %s\n", g.Name, g.State, g.Node, g.Reason)
	}
	for _, f := range st.Fencing {
		fmt.Fprintf(&b, "  fence %s via %s %s %s\n", f.Target, f.Device, f.Result, f.Error)
	}
	return b.String()
}

// TestFenceActionRebootPowersTheNodeOnAgain: with `action = "reboot"` on
// the IPMI devices, the leader powers a fenced node on again through its
// BMC once the fence (power off, confirmed) is committed, as Pacemaker's
// reboot does, and records it in the history; the group runs on the
// survivor meanwhile. The lab then boots the node (ipmi_sim records the
// power-on; booting is the lab's part) and it rejoins as the standby. An
// operator's `vigil fence` then leaves it off.
func TestFenceActionRebootPowersTheNodeOnAgain(t *testing.T) {
	l := New(t, "vlabrb")
	fc := StartFencedCluster(l, FenceSpec{LogLevel: "info", Action: "reboot"})
	const settle = 30 * time.Second
	fc.WaitHealthy(settle)
	active := fc.Active()
	standby := Other(active)
	bmc := fc.BMCs[active]
	fc.CutPower(active)
	fc.Eventually(settle, active+" powered on again through its BMC", func() error {
		if bmc.CountCalls("set power 1") == 0 {
			return fmt.Errorf("chassis calls %v", bmc.Calls())
		}
		return nil
	})
	calls := bmc.Calls()
	if off, on := slices.Index(calls, "set power 0"), slices.Index(calls, "set power 1"); off < 0 || on < off {
		t.Errorf("chassis calls %v: want a power-off before the power-on", calls)
	}
	if n := bmc.CountCalls("set power 1"); n != 1 {
		t.Errorf("%d power-on commands, want 1: %v", n, calls)
	}
	groupStartedOn(t, fc, settle, standby)
	// The power-on comes after the node's fenced state was committed.
	var fenced, poweredOn uint64
	for _, e := range eventsOf(t, fc.Cluster, "w") {
		switch {
		case e.Node != active:
		case e.Kind == "node-fenced" && fenced == 0:
			fenced = e.Index
		case e.Kind == "node-power-on" && strings.Contains(e.Message, "powered on again"):
			poweredOn = e.Index
		}
	}
	if poweredOn == 0 || fenced == 0 || poweredOn < fenced {
		t.Errorf("history: %s fenced at index %d, powered on again at %d; want both, the power-on after", active, fenced, poweredOn)
	}
	fc.PowerOn(active) // the BMC reads on already; the lab boots the host
	fc.WaitHealthy(settle)
	groupStartedOn(t, fc, settle, standby)
	if st := mustStatus(t, fc.Cluster, "w"); len(FenceRecords(st, standby, "")) > 0 {
		t.Errorf("the survivor %s was fenced: %+v", standby, st.Fencing)
	}

	// An operator's `vigil fence` powers it off on purpose: it stays off.
	if out, err := fenceCLI(fc, "w", "", "-yes", active); err != nil {
		t.Fatalf("vigil fence %s: %v\n%s", active, err, out)
	}
	if n := bmc.CountCalls("set power 0"); n != 2 {
		t.Errorf("%d power-off commands after the operator's fence, want 2: %v", n, bmc.Calls())
	}
	time.Sleep(2 * time.Second)
	if n := bmc.CountCalls("set power 1"); n != 1 {
		t.Errorf("the operator's fence was followed by a power-on (%d in all): %v", n, bmc.Calls())
	}
}

// groupStartedOn waits until the group is started on node, with the VIP there only.
func groupStartedOn(t *testing.T, fc *FencedCluster, timeout time.Duration, node string) {
	t.Helper()
	if on := groupOnOneLoadBalancer(t, fc, timeout, "group on "+node); on != node {
		t.Fatalf("group on %s, want %s", on, node)
	}
}
