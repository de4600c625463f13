package lab

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFailoverAfterStandbyReboot measures the routine that follows a
// reboot of the standby load balancer, or a restart of its agent (an
// upgrade): the standby is powered off, or its agent stopped, for
// VIGIL_BENCH_DOWN (default 8 s), then back, and as soon as `vigil status`
// shows the cluster healthy the active node loses its power. The downtime
// is client-observed, as in BenchmarkFailoverDowntime (haproxy on both
// nodes, the group is the VIP). A standby back from a reboot must take over
// as fast as one that never left: it may start the group only once its
// state is current, and a leader's raft backs off from a peer that was down
// (consensus/peerwait.go).
//
//	VIGIL_LAB_ID=x VIGIL_BENCH=1 go test ./test/lab -run '^$' -bench FailoverAfterStandbyReboot -benchtime 1x
func BenchmarkFailoverAfterStandbyReboot(b *testing.B) {
	runs := runsFromEnv(b, "VIGIL_BENCH_RUNS", 5)
	preset, label, tuning := benchTiming(b, "VIGIL_BENCH")
	down := durationFromEnv(b, "VIGIL_BENCH_DOWN", 8*time.Second)
	load0 := loadAvg()
	fmt.Printf("FailoverAfterStandbyReboot: %d runs, standby down %v, vigil timing %s, load average %s\n", runs, down, label, load0)
	v := startVigilBench(b, preset, tuning)
	const (
		power = "standby powered off"
		agent = "standby's agent stopped"
	)
	gaps := map[string][]time.Duration{}
	for i := range runs {
		for _, how := range []string{agent, power} {
			from := waitGroupStarted(b, v.c, "web", "", benchSettle)
			standby := Other(from)
			if how == power {
				v.c.PowerOff(standby)
			} else {
				v.c.Stop(standby)
			}
			time.Sleep(down)
			if how == power {
				v.c.PowerOn(standby)
				v.nodeUp(standby)
			} else {
				v.c.Start(standby)
			}
			leader := v.c.WaitHealthy(benchSettle)
			gap := measureSwitch(b, v.client, fmt.Sprintf("vigil-reboot-%d-%d", i, len(how)), from, standby, func() {
				v.c.PowerOff(from)
			})
			fmt.Printf("run %d: %s for %v, back and healthy (leader %s); power-off of %s: %v (load average %s)\n",
				i+1, how, down, leader, from, gap.Round(time.Millisecond), loadAvg())
			gaps[how] = append(gaps[how], gap)
			v.c.PowerOn(from)
			v.nodeUp(from)
			v.c.WaitHealthy(benchSettle)
		}
	}
	fmt.Printf("\nfailover right after the standby came back (down %v), client-observed downtime min / median / max over %d runs\n", down, runs)
	for _, how := range []string{agent, power} {
		fmt.Printf("%-26s %s\n", how+":", sortedDurs(gaps[how]).cell())
	}
	fmt.Printf("vigil timing: %s; load average at start %s, at end %s\n", label, load0, loadAvg())
	s := sortedDurs(gaps[agent])
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(s.median())/float64(time.Millisecond), "downtime-median-ms")
}
