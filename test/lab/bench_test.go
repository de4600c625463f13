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
// (`vigil node online <survivor>`). The survivors are polled every 20 ms with
// `status -json -stale` (their own view; a forwarded status would wait for a
// dial to the dead leader). Each invocation does max(b.N, 5) failovers and
// reports min, median and max in ms, and logs when the new leader was first
// reported. The figures include the CLI's start-up (~10-20 ms per call), so
// they are an upper bound of the agents' own failover time.
//
//	go test ./test/lab -run '^$' -bench LeaderFailover
func BenchmarkLeaderFailover(b *testing.B) {
	for _, preset := range []string{"fast", "lan"} {
		b.Run(preset, func(b *testing.B) {
			l := New(b, "vlabb")
			c := StartCluster(l, ClusterSpec{Preset: preset, LogLevel: "info"})
			runs := max(b.N, 5)
			var seen, committed []time.Duration
			for range runs {
				s, d, err := failover(c)
				if err != nil {
					b.Fatal(err)
				}
				seen, committed = append(seen, s), append(committed, d)
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			lo, med, hi := spread(committed)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(lo), "min-ms")
			b.ReportMetric(ms(med), "median-ms")
			b.ReportMetric(ms(hi), "max-ms")
			slo, smed, shi := spread(seen)
			b.Logf("leader power-off -> new committed leader, preset %s, %d runs: min %v / median %v / max %v "+
				"(new leader first reported: %v / %v / %v)", preset, runs, lo, med, hi, slo, smed, shi)
		})
	}
}

// failover powers off the current leader of a healthy cluster and measures
// the time until a survivor reports a new leader (seen) and until that leader
// accepts a write (committed); then it powers the old leader back on.
func failover(c *Cluster) (seen, committed time.Duration, err error) {
	old := c.WaitHealthy(60 * time.Second)
	start := time.Now()
	c.PowerOff(old)
	defer c.PowerOn(old)
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
			if seen == 0 {
				seen = time.Since(start)
			}
			_, err := c.CLIContext(ctx, leader, "node", "online", target)
			if err == nil {
				return seen, time.Since(start), nil
			}
			lastErr = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, 0, errors.Join(fmt.Errorf("no committed leader within 60s after powering off %s", old), lastErr)
}

// newLeader asks each survivor for its own view (status -stale) and returns
// the first leader reported that is not old.
func newLeader(ctx context.Context, c *Cluster, survivors []string, old string) string {
	for _, n := range survivors {
		st, err := c.LocalStatus(ctx, n)
		if err == nil && st.Leader != "" && st.Leader != old && slices.Contains(survivors, st.Leader) {
			return st.Leader
		}
	}
	return ""
}

// spread returns min, median and max, rounded to the millisecond.
func spread(ds []time.Duration) (lo, med, hi time.Duration) {
	s := slices.Sorted(slices.Values(ds))
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return r(s[0]), r(s[len(s)/2]), r(s[len(s)-1])
}
