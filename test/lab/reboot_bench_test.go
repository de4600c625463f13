package lab

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkFailoverAfterStandbyReboot measures the routine that follows a
// reboot of the standby load balancer: it is powered off for
// VIGIL_BENCH_DOWN (default 8 s), powered on, and as soon as `vigil status`
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
	down := 8 * time.Second
	if s := os.Getenv("VIGIL_BENCH_DOWN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("VIGIL_BENCH_DOWN=%q: %v", s, err)
		}
		down = d
	}
	load0 := loadAvg()
	fmt.Printf("FailoverAfterStandbyReboot: %d runs, standby down %v, vigil timing %s, load average %s\n", runs, down, label, load0)
	v := startVigilBench(b, preset, tuning)
	var gaps []time.Duration
	for i := range runs {
		from := waitGroupStarted(b, v.c, "web", "", benchSettle)
		standby := Other(from)
		v.c.PowerOff(standby)
		time.Sleep(down)
		v.c.PowerOn(standby)
		v.nodeUp(standby)
		leader := v.c.WaitHealthy(benchSettle)
		gap := measureSwitch(b, v.client, fmt.Sprintf("vigil-reboot-%d", i), from, standby, func() {
			v.c.PowerOff(from)
		})
		fmt.Printf("run %d: %s back after %v, healthy (leader %s); power-off of %s: %v (load average %s)\n",
			i+1, standby, down, leader, from, gap.Round(time.Millisecond), loadAvg())
		gaps = append(gaps, gap)
		v.c.PowerOn(from)
		v.nodeUp(from)
		v.c.WaitHealthy(benchSettle)
	}
	s := sortedDurs(gaps)
	fmt.Printf("\nfailover right after the standby's reboot (down %v), client-observed downtime min / median / max over %d runs: %s\n"+
		"vigil timing: %s; load average at start %s, at end %s\n", down, runs, s.cell(), label, load0, loadAvg())
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(s.median())/float64(time.Millisecond), "downtime-median-ms")
}
