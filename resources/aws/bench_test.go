package aws

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/resources"
	"github.com/vigil-ha/vigil/test/ec2sim"
)

// BenchmarkEIPTakeoverOverhead moves the Elastic IP back and forth with 50ms
// added to every API call and prints overhead-ms = total - api-calls x 50ms.
func BenchmarkEIPTakeoverOverhead(b *testing.B) {
	const latency = 50 * time.Millisecond
	cfg := ec2sim.PairConfig()
	cfg.Knobs.Latency = ec2sim.Duration(latency)
	h := ec2sim.Serve(b, cfg, ec2sim.Hooks{})
	agents := [2]*EIP{}
	for i, inst := range []string{"i-a", "i-b"} {
		a, err := newEIP(resources.Spec{Name: "eip", Params: map[string]string{"allocation_id": "eipalloc-1"}}, opts(h, inst))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := a.self(context.Background()); err != nil { // identity lookup is a one-off
			b.Fatal(err)
		}
		agents[i] = a
	}
	var total time.Duration
	calls, i := 0, 1
	for b.Loop() {
		before := len(h.Log())
		start := time.Now()
		if err := agents[i].Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		calls += len(h.Log()) - before
		i = 1 - i
	}
	n := float64(b.N)
	b.ReportMetric(float64(calls)/n, "api-calls/op")
	b.ReportMetric(float64(total.Milliseconds())/n, "total-ms/op")
	b.ReportMetric((float64(total)-float64(calls)*float64(latency))/n/1e6, "overhead-ms/op")
}
