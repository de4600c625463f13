package lab

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkHealthFailover measures a health-driven failover in the
// health scenario (health_fixture.go; check interval 300ms, rise 2, fall 3,
// min_move_interval 0, timing preset fast): the active LB's backend is
// killed, so its haproxy answers 503, and the figure is the time from the
// FIRST failing check result on that LB to the client's first answer from
// the other LB through the VIP.
//
// The first failing result's time is the check's own timestamp (checks[].at)
// read from the failing LB's `vigil status -json -stale`, polled every few ms
// right after the break: the entry with a failed result and consecutive 1 is
// the first failure (a run where the poll only saw a later one is counted as
// inexact and logged; its figure is then too small by whole intervals). The
// answer's time is when the client's probe (every 10 ms, fresh connection)
// received it. Expect about (fall-1) x interval for detection to complete,
// plus gossip, the leader's decision, the stop on the old LB and the VIP's
// start and gratuitous ARP on the new one; the log also gives the time from
// the unhealthy verdict (checks[].since) to the answer, vigil's own part. Each invocation does max(b.N, 5)
// failovers, alternating direction, and reports min, median and max in ms.
//
//	go test ./test/lab -run '^$' -bench HealthFailover
func BenchmarkHealthFailover(b *testing.B) {
	h := StartHealthLab(b, "vlabhb", HealthSpec{LogLevel: "info"})
	probe := h.Client.StartProbe("probe", h.URL())
	runs := max(b.N, 5)
	var total, detect, outage, react []time.Duration
	inexact := 0
	for i := range runs {
		r, err := healthFailover(h, probe)
		if err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		if !r.exact {
			inexact++
		}
		total, detect, outage = append(total, r.failToAnswer), append(detect, r.breakToFail), append(outage, r.breakToAnswer)
		react = append(react, r.verdictToAnswer)
		b.Logf("run %d: %s -> %s: break -> first failing result %v, first failing result -> first answer from %s %v "+
			"(unhealthy verdict -> answer %v; client outage %v)",
			i, r.from, r.to, r.breakToFail, r.to, r.failToAnswer, r.verdictToAnswer, r.breakToAnswer)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	lo, med, hi := spread(total)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(lo), "min-ms")
	b.ReportMetric(ms(med), "median-ms")
	b.ReportMetric(ms(hi), "max-ms")
	dlo, dmed, dhi := spread(detect)
	olo, omed, ohi := spread(outage)
	vlo, vmed, vhi := spread(react)
	b.Logf("first failing check result -> first answer from the new LB, interval %v fall %d, %d runs (%d inexact): "+
		"min %v / median %v / max %v; break -> first failing result %v / %v / %v; unhealthy verdict (fall reached) -> answer %v / %v / %v; "+
		"client outage (break -> answer) %v / %v / %v",
		h.Health.Interval, h.Health.Fall, runs, inexact, lo, med, hi, dlo, dmed, dhi, vlo, vmed, vhi, olo, omed, ohi)
}

type healthRun struct {
	from, to                                                  string
	breakToFail, failToAnswer, breakToAnswer, verdictToAnswer time.Duration
	exact                                                     bool
}

// healthFailover breaks the active LB's backend, measures, then repairs it
// and waits until that LB is healthy again (the group stays on the new LB:
// failback is off).
func healthFailover(h *HealthLab, probe *Proc) (healthRun, error) {
	h.Lab.tb.Helper()
	st, err := h.LeaderStatus()
	if err != nil {
		return healthRun{}, err
	}
	from := h.Group(st).Node
	to := h.Other(from)
	h.WaitGroupOn(from, 30*time.Second)
	h.WaitCheck(to, "healthy", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	broke := time.Now()
	h.BreakBackend(from)
	failAt, exact, err := h.FirstFailure(ctx, from, broke)
	if err != nil {
		return healthRun{}, err
	}
	var answer time.Time
	for answer.IsZero() {
		if ctx.Err() != nil {
			return healthRun{}, fmt.Errorf("the client got no answer from %s within 30s of breaking %s", to, from)
		}
		time.Sleep(20 * time.Millisecond)
		samples, err := ReadProbe(probe.Log)
		if err != nil {
			return healthRun{}, err
		}
		if i := slices.IndexFunc(samples, func(s Sample) bool { return s.OK && s.Body == to && s.Time.After(broke) }); i >= 0 {
			answer = samples[i].Time
		}
	}
	// When the failing LB's check turned unhealthy (fall reached): the
	// rest is vigil's reaction.
	var verdict time.Time
	if st, err := h.LocalStatus(ctx, from); err == nil {
		if c, ok := h.Check(st, from); ok && c.State == "unhealthy" {
			verdict = c.Since
		}
	}
	if verdict.IsZero() {
		return healthRun{}, fmt.Errorf("%s's check is not unhealthy after the failover", from)
	}
	h.FixBackend(from)
	h.WaitCheck(from, "healthy", 30*time.Second)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return healthRun{from: from, to: to, exact: exact,
		breakToFail: r(failAt.Sub(broke)), verdictToAnswer: r(answer.Sub(verdict)), failToAnswer: r(answer.Sub(failAt)), breakToAnswer: r(answer.Sub(broke))}, nil
}
