package lab

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkTransferFromHolder hands leadership away from the node that holds
// the VIP (`vigil leader transfer`, as a clean stop of that node does
// first), VIGIL_BENCH_RUNS times (default 20), alternating the target
// between the other load balancer and the witness, and prints in how many
// transfers n1's VIP went missing (sampled every 5 ms) and for how long.
// The old leader keeps its lease until the new leader answers it, for up to
// a leader lease after the transfer started (design.md, Leases).
//
//	VIGIL_BENCH=1 go test ./test/lab -run '^$' -bench TransferFromHolder -benchtime 1x
func BenchmarkTransferFromHolder(b *testing.B) {
	if os.Getenv("VIGIL_BENCH") == "" {
		b.Skip("lab bench: set VIGIL_BENCH=1 (make bench)")
	}
	runs := runsFromEnv(b, "VIGIL_BENCH_RUNS", 20)
	c, n1, label := holderBenchCluster(b, "vlabtx")
	const settle = 30 * time.Second
	load0 := loadAvg()
	var gaps []time.Duration
	lapsed := 0
	for i := range runs {
		c.LeadOn("n1", settle)
		time.Sleep(500 * time.Millisecond)
		target := []string{"n2", "w"}[i%2]
		start := time.Now()
		c.LeadOn(target, settle)
		time.Sleep(time.Second)
		missing, gap := n1.Absent(start, time.Time{})
		if missing {
			lapsed++
			gaps = append(gaps, max(gap, 5*time.Millisecond))
		}
		fmt.Printf("run %d: n1 -> %s: n1's VIP missing: %v (%v)\n", i+1, target, missing, gap.Round(time.Millisecond))
	}
	fmt.Printf("\nleadership transfers away from the VIP holder n1, %d runs, timing %s, load average %s at start, %s at end\n",
		runs, label, load0, loadAvg())
	fmt.Printf("transfers in which n1's VIP went missing: %d of %d; gap min / median / max: %s\n", lapsed, runs, sortedDurs(gaps).cell())
	b.ReportMetric(float64(lapsed), "holder-lapses")
}
