package membership

import (
	"testing"
	"time"
)

// BenchmarkDeadDetection measures, on loopback UDP/TCP with the fast preset,
// the time from a crash (Shutdown without Leave) of n3 until n1 lists it
// "dead", and until it first lists it "suspect". Run with
//
//	go test ./cluster/membership -run '^$' -bench DeadDetection -benchtime 5x
func BenchmarkDeadDetection(b *testing.B) {
	cfgs := udpCluster(b, "n1", "n2", "n3")
	n1, _ := start(b, cfgs[0]), start(b, cfgs[1])
	var dead, suspect time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		n3 := start(b, cfgs[2])
		waitFor(b, n1, 10*time.Second, "all alive", allAlive("n1", "n2", "n3"))
		time.Sleep(500 * time.Millisecond) // let probing settle into its rhythm

		b.StartTimer()
		killed := time.Now()
		n3.kill(b)
		var sus time.Duration
		waitFor(b, n1, 10*time.Second, "n3 dead", func(ms []Member) bool {
			if stateIs("n3", StateSuspect)(ms) && sus == 0 {
				sus = time.Since(killed)
			}
			return stateIs("n3", StateDead)(ms)
		})
		d := time.Since(killed)
		b.StopTimer()
		b.Logf("run %d: kill -> suspect %v, kill -> dead %v", i+1, sus.Round(time.Millisecond), d.Round(time.Millisecond))
		dead += d
		suspect += sus
	}
	b.ReportMetric(float64(dead.Milliseconds())/float64(b.N), "ms-to-dead")
	b.ReportMetric(float64(suspect.Milliseconds())/float64(b.N), "ms-to-suspect")
}
