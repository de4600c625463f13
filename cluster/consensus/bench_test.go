package consensus

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkApplyTLS measures one committed write on a 3-node cluster over
// loopback mutual TLS with bolt stores (fsync included).
func BenchmarkApplyTLS(b *testing.B) {
	nodes, _ := tlsCluster(b, 3)
	leader := leaderOf(b, nodes, 10*time.Second)
	b.ResetTimer()
	for i := range b.N {
		if _, err := leader.node.Apply(fmt.Appendf(nil, "w%d", i), 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFailoverTLS measures, with the fast timing preset, the time from
// stopping the leader of a 3-node TLS cluster until a new leader commits a
// write (run with -benchtime=5x or so; each op builds a cluster).
func BenchmarkFailoverTLS(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		nodes, _ := tlsCluster(b, 3)
		leader := leaderOf(b, nodes, 10*time.Second)
		if _, err := leader.node.Apply([]byte("warm"), 5*time.Second); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := leader.stop(); err != nil {
			b.Fatal(err)
		}
		var next *running
		waitForFast(b, func() bool {
			for _, n := range others(nodes, leader) {
				if n.node.IsLeader() {
					next = n
					return true
				}
			}
			return false
		})
		if _, err := next.node.Apply([]byte("after"), 5*time.Second); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		b.StopTimer()
		for _, n := range nodes {
			_ = n.stop()
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
}

func waitForFast(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("no new leader within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
