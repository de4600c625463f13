package lab

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// pairPriorityDelay is the lab pair's priority_fence_delay: the standby
// waits this long before fencing the node that holds the group.
const pairPriorityDelay = "3s"

// pairSpec is a two_node cluster: n1 and n2, one ipmi_sim BMC each, no
// witness. extra goes inside the cluster block.
func pairSpec(extra string) FenceSpec {
	return FenceSpec{TwoNode: true, ClusterExtra: fmt.Sprintf("  priority_fence_delay = %q\n%s", pairPriorityDelay, extra)}
}

// TestTwoNode runs a pair with IPMI fencing and no witness. Subtests share
// the cluster and run in order; a sampler reads both nodes' addresses every
// 10 ms throughout and the VIP must never be held twice.
func TestTwoNode(t *testing.T) {
	l := New(t, "vlab2n")
	fc := StartFencedCluster(l, pairSpec(""))
	holders := SampleHolders([]*Host{fc.Node("n1").Host, fc.Node("n2").Host}, FenceVIP, 10*time.Millisecond)
	const settle = 30 * time.Second
	defer noPairOverlap(t, holders, time.Time{})

	// The routine operation first: a clean restart of the standby (an
	// upgrade, a reboot) leaves the voters on the way out and must cost the
	// active node nothing. The active node once added the standby back
	// while it was still shutting down (still on the heartbeat link), then
	// lost its quorum, and with it its lease and the VIP, when it exited.
	t.Run("CleanRestartOfTheStandbyKeepsTheService", func(t *testing.T) {
		from := time.Now()
		active := fc.Active()
		standby := Other(active)
		fc.Restart(standby)
		fc.Eventually(settle, standby+" back as a voter", func() error {
			st, err := fc.Status(active)
			if err != nil {
				return err
			}
			if !slices.Equal(st.Voters, []string{"n1", "n2"}) {
				return fmt.Errorf("voters %v", st.Voters)
			}
			return nil
		})
		if missing, gap := holders.Absent(from, time.Time{}); missing {
			t.Errorf("the VIP was missing for %v while the standby restarted cleanly", gap)
		}
		if now := fc.Active(); now != active {
			t.Errorf("the VIP moved from %s to %s", active, now)
		}
		if f := lastFence(mustStatus(t, fc.Cluster, active), standby); f.Time.After(from) {
			t.Errorf("%s was fenced after a clean restart: %+v", standby, f)
		}
		noPairOverlap(t, holders, from)
	})

	t.Run("PowerOffOfActiveIsFencedThenSurvivorRunsAlone", func(t *testing.T) {
		from := time.Now()
		active := fc.Active()
		other := Other(active)
		fc.CutPower(active)
		fc.WaitVIP(other, settle)
		st := waitPairFenced(t, fc, active, other)
		if first := firstHeld(holders, other, from); first.IsZero() || !lastFence(st, active).Time.Before(first) {
			t.Errorf("VIP first seen on %s at %s, fence of %s recorded at %s: the VIP must move only after the fence",
				other, first.Format("15:04:05.000"), active, lastFence(st, active).Time.Format("15:04:05.000"))
		}
		if !slices.Equal(st.Voters, []string{other}) {
			t.Errorf("survivor's raft voters %v, want only %s", st.Voters, other)
		}
		noPairOverlap(t, holders, from)
	})

	t.Run("SurvivorRebootsWhilePeerIsOff", func(t *testing.T) {
		from := time.Now()
		survivor := fc.Active()
		fenced := Other(survivor)
		fc.CutPower(survivor)
		fc.PowerOn(survivor) // its own power cycle: its BMC was never asked
		fc.WaitVIP(survivor, settle)
		st := mustStatus(t, fc.Cluster, survivor)
		if !slices.Equal(st.Voters, []string{survivor}) || st.Leader != survivor {
			t.Errorf("rebooted survivor: voters %v leader %q, want %s alone", st.Voters, st.Leader, survivor)
		}
		if !fc.PoweredOff(fenced) {
			t.Errorf("%s came back while it should still be off", fenced)
		}
		noPairOverlap(t, holders, from)
	})

	t.Run("FencedNodeRebootsAndRejoinsAsVoterWithoutTheGroup", func(t *testing.T) {
		from := time.Now()
		holder := fc.Active()
		fenced := Other(holder)
		fc.rejoinPair(t, fenced, holder)
		noPairOverlap(t, holders, from)
	})

	t.Run("FrozenActiveAgentIsFencedBeforeVIPMoves", func(t *testing.T) {
		from := time.Now()
		active := fc.Active()
		other := Other(active)
		fc.Node(active).Host.Freeze(fc.Agent(active))
		fc.WaitVIP(other, settle)
		st := waitPairFenced(t, fc, active, other)
		if first := firstHeld(holders, other, from); first.IsZero() || !lastFence(st, active).Time.Before(first) {
			t.Errorf("VIP on %s at %s before the fence of %s was recorded", other, first.Format("15:04:05.000"), active)
		}
		noPairOverlap(t, holders, from)
		fc.rejoinPair(t, active, other)
	})

	// Both links between the nodes cut, both alive: exactly one survives
	// and it is the holder. Between rounds the group moves, so each node is
	// the holder in some round.
	t.Run("LinksCutHolderWinsTheFenceRace", func(t *testing.T) {
		const rounds = 4
		wins := map[string]int{}
		holderWins := 0
		for round := range rounds {
			from := time.Now()
			holder := fc.Active()
			l.Partition(Pub, fc.Node("n1").Host, fc.Node("n2").Host)
			l.Partition(HB, fc.Node("n1").Host, fc.Node("n2").Host)
			var winner string
			fc.Eventually(settle, "one node fenced", func() error {
				switch {
				case fc.PoweredOff("n1") && fc.PoweredOff("n2"):
					return nil
				case fc.PoweredOff("n1"):
					winner = "n2"
				case fc.PoweredOff("n2"):
					winner = "n1"
				default:
					return fmt.Errorf("both still running")
				}
				return nil
			})
			if winner == "" {
				t.Fatalf("round %d: both nodes were fenced", round+1)
			}
			fc.WaitVIP(winner, settle)
			l.Heal()
			wins[winner]++
			if winner == holder {
				holderWins++
			}
			t.Logf("round %d: holder %s, survivor %s", round+1, holder, winner)
			noPairOverlap(t, holders, from)
			fc.rejoinPair(t, Other(winner), winner)
			if round%2 == 0 { // hand the group over for the next round
				if out, err := fc.CLI(winner, "node", "standby", winner); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				fc.WaitVIP(Other(winner), settle)
				if out, err := fc.CLI(winner, "node", "online", winner); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
			}
		}
		t.Logf("fence race with both links cut, %d rounds: survivor n1 %d, n2 %d; the holder survived %d of %d",
			rounds, wins["n1"], wins["n2"], holderWins, rounds)
		if holderWins != rounds {
			t.Errorf("the healthy holder lost %d of %d fence races", rounds-holderWins, rounds)
		}
	})
}

// TestTwoNodeColdStart starts n1 alone (wait_for_all): it runs nothing and
// fences nobody until it has seen n2; then n2 starts and the pair runs the
// group. A clean stop of n2 then leaves n1 running alone without fencing.
func TestTwoNodeColdStart(t *testing.T) {
	l := New(t, "vlab2c")
	fc := PrepareFencedCluster(l, pairSpec(""))
	holders := SampleHolders([]*Host{fc.Node("n1").Host, fc.Node("n2").Host}, FenceVIP, 10*time.Millisecond)
	fc.Start("n1")
	fc.Eventually(30*time.Second, "n1 reports that it waits for n2", func() error {
		st, err := fc.LocalStatus(t.Context(), "n1")
		if err != nil {
			return err
		}
		if !hasWarning(st, "wait_for_all") {
			return fmt.Errorf("warnings %q", st.Warnings)
		}
		return nil
	})
	// Armed, n1 would have fenced n2 within detection (~1 s) plus n2's
	// fence delay (0: n2 holds nothing) plus the fence (~1 s), as
	// TestTwoNodeForceAlone shows for the same start with wait_for_all
	// off. Give it three times that, then look for any call on n2's BMC.
	time.Sleep(6 * time.Second)
	if calls := fc.BMCs["n2"].Calls(); slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "power 0") }) {
		t.Fatalf("n1 fenced n2 on a cold start without having seen it: BMC calls %v", calls)
	}
	if fc.Node("n1").Host.HasAddr(FenceVIP) {
		t.Fatal("n1 runs the VIP without having seen n2")
	}

	fc.Start("n2")
	fc.WaitHealthy(30 * time.Second)
	fc.WaitVIP("n1", 30*time.Second)

	// A clean stop of n2 (it holds nothing): n1 continues alone, unfenced
	// peer, and keeps the VIP throughout (n2 left the voters before exiting).
	stopAt := time.Now()
	fc.Stop("n2")
	fc.Eventually(30*time.Second, "n1 alone", func() error {
		st, err := fc.LocalStatus(t.Context(), "n1")
		if err != nil {
			return err
		}
		if !slices.Equal(st.Voters, []string{"n1"}) || st.Leader != "n1" {
			return fmt.Errorf("voters %v leader %q", st.Voters, st.Leader)
		}
		return nil
	})
	if calls := fc.BMCs["n2"].CountCalls("set power 0"); calls != 0 {
		t.Errorf("n2 stopped cleanly but was fenced (%d power-off calls)", calls)
	}
	for _, s := range holders.Samples() {
		if !s.Time.Before(stopAt) && !slices.Equal(s.Hosts, []string{"n1"}) {
			t.Errorf("while n2 stopped cleanly, VIP holders %v at %s; want n1 throughout", s.Hosts, s.Time.Format("15:04:05.000"))
			break
		}
	}
	fc.WaitVIP("n1", 5*time.Second)
	fc.Start("n2")
	fc.Eventually(30*time.Second, "n2 back as a voter", func() error {
		st, err := fc.LocalStatus(t.Context(), "n1")
		if err != nil {
			return err
		}
		if len(st.Voters) != 2 {
			return fmt.Errorf("voters %v nonvoters %v", st.Voters, st.Nonvoters)
		}
		return nil
	})
	fc.WaitVIP("n1", 5*time.Second)
	if m := holders.MaxHolders(); m > 1 {
		t.Error("the VIP was held by two nodes at once")
	}
}

// TestTwoNodeForceAlone: with wait_for_all = false a node started alone
// fences its absent peer and runs the group, and says so in status.
func TestTwoNodeForceAlone(t *testing.T) {
	l := New(t, "vlab2f")
	fc := PrepareFencedCluster(l, pairSpec("  wait_for_all = false\n"))
	fc.Start("n1")
	fc.WaitVIP("n1", 60*time.Second)
	if fc.BMCs["n2"].CountCalls("set power 0") == 0 || fc.BMCs["n2"].PoweredOn() {
		t.Errorf("n1 runs the VIP but n2's BMC was not powered off: calls %v", fc.BMCs["n2"].Calls())
	}
	fc.Eventually(10*time.Second, "n2 fenced in n1's status", func() error {
		st, err := fc.Status("n1")
		if err != nil {
			return err
		}
		if !hasWarning(st, "running alone") {
			return fmt.Errorf("status does not say n1 runs alone: %q", st.Warnings)
		}
		if ns, _ := NodeOf(st, "n2"); ns.State != "fenced" {
			return fmt.Errorf("n2 is %q, want fenced", ns.State)
		}
		return nil
	})
}

func hasWarning(st api.Status, sub string) bool {
	return slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, sub) })
}

// waitPairFenced waits until survivor's status shows node fenced through
// its BMC, and checks that node is really off.
func waitPairFenced(t *testing.T, fc *FencedCluster, node, survivor string) api.Status {
	t.Helper()
	var st api.Status
	fc.Eventually(30*time.Second, node+" fenced", func() error {
		var err error
		if st, err = fc.Status(survivor); err != nil {
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
		t.Errorf("%s reported fenced but still runs", node)
	}
	if fc.BMCs[node].PoweredOn() {
		t.Errorf("%s fenced, but its BMC reads on", node)
	}
	if rec := lastFence(st, node); rec.Device != node+"-bmc" {
		t.Errorf("%s fenced through %q, want %s-bmc", node, rec.Device, node)
	}
	return st
}

func lastFence(st api.Status, node string) api.FenceRecord {
	oks := FenceRecords(st, node, "ok")
	if len(oks) == 0 {
		return api.FenceRecord{}
	}
	return oks[len(oks)-1]
}

// rejoinPair powers a fenced node back on: it becomes a voter again and
// online, and the group stays on holder (failback = false).
func (fc *FencedCluster) rejoinPair(t *testing.T, node, holder string) {
	t.Helper()
	fc.PowerOnNode(node)
	fc.Eventually(30*time.Second, node+" a voter again", func() error {
		st, err := fc.Status(holder)
		if err != nil {
			return err
		}
		if len(st.Voters) != 2 {
			return fmt.Errorf("voters %v nonvoters %v", st.Voters, st.Nonvoters)
		}
		if ns, _ := NodeOf(st, node); ns.State != "online" {
			return fmt.Errorf("%s is %q", node, ns.State)
		}
		return nil
	})
	fc.WaitHealthy(30 * time.Second)
	if h := fc.VIPHolders(); !slices.Equal(h, []string{holder}) {
		t.Fatalf("after %s rejoined, VIP holders %v; want %s only", node, h, holder)
	}
	if g, _ := GroupOf(mustStatus(t, fc.Cluster, node), FenceGroup); g.Node != holder || g.State != "started" {
		t.Errorf("after %s rejoined, group %s %s on %q; want started on %s", node, g.Name, g.State, g.Node, holder)
	}
}

// noPairOverlap fails t if any sample since from shows two holders.
func noPairOverlap(t *testing.T, hs *Holders, from time.Time) {
	t.Helper()
	for _, s := range hs.Samples() {
		if !s.Time.Before(from) && len(s.Hosts) > 1 {
			t.Errorf("VIP held by %v at %s", s.Hosts, s.Time.Format("15:04:05.000"))
			return
		}
	}
}

// TestTwoNodeForceAloneCLI: a node waiting for its peer (wait_for_all) is
// told by the operator to start alone (`vigil node online -force-alone`):
// it fences the absent peer, runs the group and says so in status.
func TestTwoNodeForceAloneCLI(t *testing.T) {
	l := New(t, "vlab2o")
	fc := PrepareFencedCluster(l, pairSpec(""))
	fc.Start("n1")
	fc.Eventually(30*time.Second, "n1 waits for n2", func() error {
		st, err := fc.LocalStatus(t.Context(), "n1")
		if err != nil {
			return err
		}
		if !hasWarning(st, "wait_for_all") {
			return fmt.Errorf("warnings %q", st.Warnings)
		}
		return nil
	})
	if out, err := fc.CLI("n1", "node", "online", "-force-alone", "n2"); err == nil {
		t.Errorf("-force-alone for another node was accepted: %s", out)
	}
	if out, err := fc.CLI("n1", "node", "online", "-force-alone", "n1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fc.WaitVIP("n1", 60*time.Second)
	if fc.BMCs["n2"].CountCalls("set power 0") == 0 || fc.BMCs["n2"].PoweredOn() {
		t.Errorf("n1 runs the VIP but n2's BMC was not powered off: calls %v", fc.BMCs["n2"].Calls())
	}
	if st := mustStatus(t, fc.Cluster, "n1"); !hasWarning(st, "running alone") {
		t.Errorf("status does not say n1 runs alone: %q", st.Warnings)
	}
}
