package lab

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// BenchmarkFencedFailover measures failover with IPMI fencing in the path
// (timing preset fast, vigil's ipmi device against ipmi_sim, no fence
// delays): from the active node's power cut ("poweroff"), or from SIGSTOP of
// its agent with the VIP left on its interface ("sigstop"), to the VIP held
// by the other node. The VIP is read with `ip -n` every 5 ms. Each case does
// max(b.N, 5) failovers, powering the fenced node back on in between, and
// reports min, median and max in ms; it logs the fence's own duration too.
// "two-node-poweroff" is the same power cut in a two_node pair without the
// witness (priority_fence_delay pairPriorityDelay: the survivor waits that
// long before fencing the holder).
//
//	go test ./test/lab -run '^$' -bench FencedFailover -benchtime 1x
func BenchmarkFencedFailover(b *testing.B) {
	for _, kind := range []string{"poweroff", "sigstop", "two-node-poweroff"} {
		b.Run(kind, func(b *testing.B) {
			l := New(b, "vlabfnb")
			spec := FenceSpec{LogLevel: "info"}
			if kind == "two-node-poweroff" {
				spec = pairSpec("")
				spec.LogLevel = "info"
			}
			fc := StartFencedCluster(l, spec)
			runs := max(b.N, 5)
			var moves, fences []time.Duration
			for range runs {
				move, fence, err := fencedFailover(fc, kind)
				if err != nil {
					b.Fatal(err)
				}
				moves, fences = append(moves, move), append(fences, fence)
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			lo, med, hi := spread(moves)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(lo), "min-ms")
			b.ReportMetric(ms(med), "median-ms")
			b.ReportMetric(ms(hi), "max-ms")
			flo, fmed, fhi := spread(fences)
			b.Logf("%s of the active node -> VIP on the other node, IPMI fencing in the path, %d runs: "+
				"min %v / median %v / max %v (the fence itself: %v / %v / %v)", kind, runs, lo, med, hi, flo, fmed, fhi)
		})
	}
}

// fencedFailover cuts the active node's power (or freezes its agent), waits
// for the VIP on the other node, checks that the node was fenced, and powers
// it back on. It returns the time to the move and the fence's duration.
func fencedFailover(fc *FencedCluster, kind string) (move, fence time.Duration, err error) {
	fc.WaitHealthy(60 * time.Second)
	active := fc.Active()
	other := Other(active)
	oldFences := len(FenceRecords(mustBenchStatus(fc, other), active, "ok"))
	start := time.Now()
	statusFrom := "w"
	if kind == "two-node-poweroff" {
		statusFrom = other
	}
	switch kind {
	case "poweroff", "two-node-poweroff":
		fc.CutPower(active)
	case "sigstop":
		fc.Node(active).Host.Freeze(fc.Agent(active))
	}
	deadline := start.Add(60 * time.Second)
	for !fc.Node(other).Host.HasAddr(FenceVIP) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s of %s: VIP not on %s after 60s", kind, active, other)
		}
		time.Sleep(5 * time.Millisecond)
	}
	move = time.Since(start)
	poll(30*time.Second, 50*time.Millisecond, func() error {
		st, err := fc.Status(statusFrom)
		if err != nil {
			return err
		}
		oks := FenceRecords(st, active, "ok")
		if len(oks) <= oldFences {
			return fmt.Errorf("no new fence record for %s", active)
		}
		fence = oks[len(oks)-1].Duration
		return nil
	})
	if fence == 0 {
		return 0, 0, fmt.Errorf("%s of %s: VIP moved to %s but no successful fence of %s was recorded", kind, active, other, active)
	}
	if !fc.PoweredOff(active) {
		return 0, 0, fmt.Errorf("%s of %s: fence recorded but the node still runs", kind, active)
	}
	fc.PowerOnNode(active)
	return move, fence, nil
}

func mustBenchStatus(fc *FencedCluster, node string) api.Status {
	fc.Lab.tb.Helper()
	st, err := fc.Status(node)
	if err != nil {
		fc.Lab.tb.Fatalf("lab: %v", err)
	}
	return st
}
