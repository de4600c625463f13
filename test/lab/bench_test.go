package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkLeaderFailover measures, for the fast and lan timing presets, the
// time from a power-off of the leader to a new committed leader: a survivor
// reports a leader other than the old one AND that leader accepts a write
// (`vigil node online <survivor>`). Status is polled on the survivors every
// 20 ms. Each invocation does max(b.N, 5) failovers and reports min, median
// and max in ms; the figures include the CLI's own start-up (a few ms per
// call), so they are an upper bound of the agents' failover time.
//
//	go test ./test/lab -run '^$' -bench LeaderFailover
func BenchmarkLeaderFailover(b *testing.B) {
	for _, preset := range []string{"fast", "lan"} {
		b.Run(preset, func(b *testing.B) {
			l := New(b, "vlabb")
			c := StartCluster(l, ClusterSpec{Preset: preset, LogLevel: "info"})
			runs := max(b.N, 5)
			var took []time.Duration
			for range runs {
				d, err := failover(c)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, d)
			}
			b.StopTimer()
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(took[0]), "min-ms")
			b.ReportMetric(ms(took[len(took)/2]), "median-ms")
			b.ReportMetric(ms(took[len(took)-1]), "max-ms")
			b.Logf("leader failover, preset %s, %d runs: min %v / median %v / max %v (all: %v)",
				preset, len(took), took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond),
				took[len(took)-1].Round(time.Millisecond), took)
		})
	}
}

// failover powers off the current leader of a healthy cluster, measures the
// time to a new committed leader, then powers the old leader back on and
// waits for the cluster to be healthy again.
func failover(c *Cluster) (time.Duration, error) {
	old := c.WaitHealthy(60 * time.Second)
	start := time.Now()
	c.PowerOff(old)
	survivors := c.Up()
	target := ""
	for _, n := range survivors {
		if !c.Node(n).Witness {
			target = n
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		if leader := newLeader(ctx, c, survivors, old); leader != "" {
			_, err := c.CLIContext(ctx, leader, "node", "online", target)
			if err == nil {
				took := time.Since(start)
				c.PowerOn(old)
				return took, nil
			}
			lastErr = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, errors.Join(fmt.Errorf("no committed leader within 60s after powering off %s", old), lastErr)
}

// newLeader asks each survivor for status and returns the first leader it
// reports that is not old.
func newLeader(ctx context.Context, c *Cluster, survivors []string, old string) string {
	for _, n := range survivors {
		st, err := c.StatusContext(ctx, n)
		if err == nil && st.Leader != "" && st.Leader != old && slices.Contains(survivors, st.Leader) {
			return st.Leader
		}
	}
	return ""
}
