package aws

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

// BenchmarkFenceOverhead measures Off against a simulator adding 50ms to
// every API call and stopping instantly: the figure of interest is
// overhead-ms = total - api-calls x 50ms (client, signing, XML, polling gaps).
func BenchmarkFenceOverhead(b *testing.B) {
	const latency = 50 * time.Millisecond
	cfg := ec2sim.PairConfig()
	cfg.Knobs.Latency = ec2sim.Duration(latency)
	h := ec2sim.Serve(b, cfg, ec2sim.Hooks{})
	f := fencerFor(b, h, "i-a", "i-b")
	ctx := context.Background()
	if _, err := f.clients.Get(ctx); err != nil { // client setup is a one-off
		b.Fatal(err)
	}
	var total time.Duration
	calls := 0
	for b.Loop() {
		if err := h.SetInstanceState("i-b", "running"); err != nil {
			b.Fatal(err)
		}
		before := len(h.Log())
		start := time.Now()
		if err := f.Off(ctx); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		for _, e := range h.Log()[before:] {
			if e.Action != "state" {
				calls++
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(calls)/n, "api-calls/op")
	b.ReportMetric(float64(total.Milliseconds())/n, "total-ms/op")
	b.ReportMetric((float64(total)-float64(calls)*float64(latency))/n/1e6, "overhead-ms/op")
}
