package lab

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

// awsBenchLatency is the simulator's configured latency per API call.
const awsBenchLatency = 50 * time.Millisecond

// BenchmarkEC2Failover measures vigil's own overhead per EC2 failover: the
// time from a power-off of the node holding the Elastic IP (group "eip",
// preset fast, aws fence devices) to the simulator's successful
// AssociateAddress to the survivor's ENI (the simulator's own timestamp),
// minus the time the cloud itself accounts for: the configured latency
// (50ms) times the number of API calls made in that window. The forced stop
// completes at once (force_stop_delay 0), so the rest is detection, raft
// commits, the fencer's and agent's polling, and process overhead. Each
// invocation does max(b.N, 5) failovers, alternating between n1 and n2, and
// reports min/median/max of the overhead and of the whole failover, and logs
// the phases (power-off -> first fencer call -> instance stopped -> EIP
// associated).
//
//	go test ./test/lab -run '^$' -bench EC2Failover -benchtime 1x
func BenchmarkEC2Failover(b *testing.B) {
	l := New(b, "vlawsb")
	e := StartEC2Cluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: AWSGroupsHCL("eip")}, ec2sim.Knobs{
		Latency:        ec2sim.Duration(awsBenchLatency),
		StopDelay:      ec2sim.Duration(2 * time.Second),
		ForceStopDelay: 0,
		StartDelay:     ec2sim.Duration(time.Second),
	})
	runs := max(b.N, 5)
	var totals, overheads, detects, fences, takeovers []time.Duration
	var calls []int
	for i := range runs {
		r, err := awsBenchRun(e)
		if err != nil {
			b.Fatalf("run %d: %v", i+1, err)
		}
		totals, overheads = append(totals, r.total), append(overheads, r.total-time.Duration(r.calls)*awsBenchLatency)
		detects, fences, takeovers = append(detects, r.detect), append(fences, r.fence), append(takeovers, r.takeover)
		calls = append(calls, r.calls)
		b.Logf("run %d: %s off -> EIP on %s in %v: %d API calls (%v of latency), overhead %v; phases: first fencer call %v, stopped %v later, associated %v later",
			i+1, r.victim, r.survivor, r.total.Round(time.Millisecond), r.calls, time.Duration(r.calls)*awsBenchLatency,
			overheads[i].Round(time.Millisecond), r.detect.Round(time.Millisecond), r.fence.Round(time.Millisecond), r.takeover.Round(time.Millisecond))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	lo, med, hi := spread(overheads)
	tlo, tmed, thi := spread(totals)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(lo), "overhead-min-ms")
	b.ReportMetric(ms(med), "overhead-median-ms")
	b.ReportMetric(ms(hi), "overhead-max-ms")
	b.ReportMetric(ms(tmed), "failover-median-ms")
	slices.Sort(calls)
	_, dmed, _ := spread(detects)
	_, fmed, _ := spread(fences)
	_, kmed, _ := spread(takeovers)
	b.Logf("EC2 failover (power-off -> EIP associated to the survivor), sim latency %v, %d runs: "+
		"controller overhead min %v / median %v / max %v; whole failover %v / %v / %v; API calls %d..%d; "+
		"median phases: detect+decide %v, fence %v, takeover %v",
		awsBenchLatency, runs, lo, med, hi, tlo, tmed, thi, calls[0], calls[len(calls)-1], dmed, fmed, kmed)
}

type awsBenchResult struct {
	victim, survivor               string
	total, detect, fence, takeover time.Duration
	calls                          int
}

// awsBenchRun fails the EIP holder over once and powers it back on.
func awsBenchRun(e *EC2Cluster) (awsBenchResult, error) {
	var r awsBenchResult
	e.WaitHealthy(60 * time.Second)
	err := poll(60*time.Second, 50*time.Millisecond, func() error {
		st, err := e.Status("n1")
		if err != nil {
			return err
		}
		for _, g := range st.Groups {
			if g.Name == "eip" && g.State == "started" && g.Node != "" {
				r.victim = g.Node
				return nil
			}
		}
		return fmt.Errorf("group eip not started: %+v", st.Groups)
	})
	if err != nil {
		return r, err
	}
	r.survivor = map[string]string{"n1": "n2", "n2": "n1"}[r.victim]
	log, err := e.SimLog()
	if err != nil {
		return r, err
	}
	from := LastSimSeq(log) + 1
	start := time.Now()
	e.PowerOff(r.victim)
	defer e.PowerOn(r.victim)

	var assoc ec2sim.Event
	err = poll(60*time.Second, 50*time.Millisecond, func() error {
		if log, err = e.SimLog(); err != nil {
			return err
		}
		var ok bool
		if assoc, ok = FirstSimEvent(log, from, "AssociateAddress", map[string]string{"AllocationId": EIPAlloc, "NetworkInterfaceId": EC2ENI(r.survivor)}); !ok {
			return fmt.Errorf("no AssociateAddress to %s yet", EC2ENI(r.survivor))
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("%w; sim log:\n%s", err, awsLogText(log, from))
	}
	inst := EC2InstanceID(r.victim)
	first, ok1 := FirstSimEvent(log, from, "DescribeInstances", map[string]string{"InstanceId.1": inst})
	stopped, ok2 := FirstSimEvent(log, from, "state", map[string]string{"InstanceId": inst, "To": "stopped"})
	if !ok1 || !ok2 || stopped.Seq > assoc.Seq {
		return r, fmt.Errorf("no fence of %s before the association; sim log:\n%s", inst, awsLogText(log, from))
	}
	for _, ev := range log {
		if ev.Seq >= from && ev.Seq <= assoc.Seq && ev.Action != "state" {
			r.calls++
		}
	}
	// The first call starts one latency before the simulator logs it.
	firstAt := first.Time.Add(-awsBenchLatency)
	r.total = assoc.Time.Sub(start)
	r.detect = firstAt.Sub(start)
	r.fence = stopped.Time.Sub(firstAt)
	r.takeover = assoc.Time.Sub(stopped.Time)
	return r, nil
}
