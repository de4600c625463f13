package lab

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkCleanStopDowntime measures the client-observed gap of a clean
// stop (SIGTERM) of the active load balancer (examples/haproxy-pair group,
// timing preset fast) when it is also the raft leader and when it is not,
// next to `vigil node standby` of it (the standby switchover). A leader
// hands its groups over under its own leadership, then leadership, so the
// two stops should cost what a standby switchover costs. Each stop gets a fresh
// cluster: a node stopped while holding the group is not eligible again
// after a restart until issue 9 item 1 is merged.
//
//	VIGIL_LAB_ID=x [VIGIL_BENCH_RUNS=3] go test ./test/lab -run '^$' -bench CleanStopDowntime -benchtime 1x
func BenchmarkCleanStopDowntime(b *testing.B) {
	runs := runsFromEnv(b, "VIGIL_BENCH_RUNS", 3) // b.N of a benchmark with sub-benchmarks is always 1
	var stop [2][]time.Duration                   // [0]: active node not the leader, [1]: it is
	var standby []time.Duration
	other := map[string]string{"n1": "n2", "n2": "n1"}
	const settle = 60 * time.Second
	for i := range runs {
		for k, isLeader := range []bool{false, true} {
			b.Run(fmt.Sprintf("stop-leader-%v-%d", isLeader, i), func(b *testing.B) {
				l, client := benchWebLab(b, "vlabcs")
				c := StartCluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: WebGroupHCL(b, l.Dir(), "n1", 3)})
				for _, n := range []string{"n1", "n2"} {
					EnableNonlocalBind(c.Node(n).Host)
				}
				c.WaitHealthy(settle)
				if i == 0 && !isLeader {
					// The reference, on the same cluster: standby round trips.
					for j := range runs {
						from := waitGroupStarted(b, c, "web", "", settle)
						to := other[from]
						standby = append(standby, measureSwitch(b, client, fmt.Sprintf("cs-standby-%d", j), from, to, func() {
							foCLI(b, c, to, "node", "standby", from)
						}))
						foCLI(b, c, to, "node", "online", from)
						c.WaitHealthy(settle)
					}
				}
				from := steerVigil(b, c, isLeader)
				gap := measureSwitch(b, client, fmt.Sprintf("cleanstop-%d-%d", k, i), from, other[from], func() { c.Stop(from) })
				stop[k] = append(stop[k], gap)
				fmt.Printf("clean stop run %d: active %s, raft leader too: %v: %v\n", i, from, isLeader, gap.Round(time.Millisecond))
			})
		}
	}
	if b.Failed() || len(stop[0]) == 0 || len(stop[1]) == 0 || len(standby) == 0 {
		return
	}
	rows := []downtimeRow{
		newRow(b, "vigil fast: clean stop of active (not leader)", "cleanstop", stop[0]),
		newRow(b, "vigil fast: clean stop of active + leader", "cleanstop-leader", stop[1]),
		newRow(b, "vigil fast: standby of the active node", "standby", standby),
	}
	var t strings.Builder
	fmt.Fprintf(&t, "client-observed downtime of the VIP (request every 10 ms, 20 ms timeout), %d runs each:\n", runs)
	fmt.Fprintf(&t, "%-48s %8s %8s %8s\n", "scenario", "min", "median", "max")
	for _, r := range rows {
		fmt.Fprintf(&t, "%-48s %8s %8s %8s\n", r.name, secs(r.min()), secs(r.median()), secs(r.max()))
	}
	fmt.Print(t.String())
}
