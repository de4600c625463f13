package lab

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleFloor measures what the smallest Go failure detector costs on
// this machine (test/lab/cmd/floor: a UDP datagram to each peer every 1/hz
// second, echoed; no TLS, no decoding, no state), beside its ticker alone,
// as a floor under BenchmarkIdleCost's figures: a detector that notices a
// dead peer within a given time cannot send less often than that allows,
// and no agent doing more costs less. CPU from /proc (utime + stime), % of
// one core, and context switches a second, over VIGIL_IDLE_WINDOW (20 s)
// for each rate.
//
//	VIGIL_BENCH=1 go test ./test/lab -run '^$' -bench IdleFloor -benchtime 1x
func BenchmarkIdleFloor(b *testing.B) {
	if os.Getenv("VIGIL_BENCH") == "" {
		b.Skip("lab bench: set VIGIL_BENCH=1 (make bench)")
	}
	window := durationFromEnv(b, "VIGIL_IDLE_WINDOW", 20*time.Second)
	bin := Build(b, "./test/lab/cmd/floor")
	l := New(b, "vlabfloor")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")
	n3 := l.AddHost("n3", "198.18.0.13", "198.18.1.13")
	peer := func(h *Host, port int) string { return fmt.Sprintf("%s:%d", h.IP(Pub), port) }

	var t strings.Builder
	fmt.Fprintf(&t, "floor of a Go failure detector, %% of one core (context switches a second), %v a rate, %d cores, load average %s at the start:\n",
		window, runtime.NumCPU(), loadAvg())
	fmt.Fprintf(&t, "%6s %18s %18s %18s %18s\n", "rate", "ticker alone", "ask 1 peer", "answer", "ask 2 peers")
	for _, hz := range []int{5, 10, 20, 33} {
		rate := fmt.Sprint(hz)
		procs := []*Proc{
			n1.Start("timer-"+rate, bin, "-role", "timer", "-hz", rate),
			n1.Start("ask1-"+rate, bin, "-role", "ask", "-hz", rate, "-to", peer(n2, 7991)),
			n2.Start("answer-"+rate, bin, "-role", "answer", "-listen", ":7991"),
			n1.Start("ask2-"+rate, bin, "-role", "ask", "-hz", rate, "-to", peer(n2, 7992)+","+peer(n3, 7992)),
			n2.Start("answer2-"+rate, bin, "-role", "answer", "-listen", ":7992"),
			n3.Start("answer3-"+rate, bin, "-role", "answer", "-listen", ":7992"),
		}
		time.Sleep(2 * time.Second) // started, sockets bound, first datagrams out
		before := make([]procUsage, 4)
		for i := range before {
			before[i] = pidUsage(b, procs[i])
		}
		t0 := time.Now()
		time.Sleep(window)
		elapsed := time.Since(t0).Seconds()
		fmt.Fprintf(&t, "%4d/s", hz)
		for i := range before {
			after := pidUsage(b, procs[i])
			cpu := float64(after.ticks-before[i].ticks) * 100 / clkTck / elapsed
			cs := float64(after.switches-before[i].switches) / elapsed
			cell := fmt.Sprintf("%.2f (%.0f)", cpu, cs)
			fmt.Fprintf(&t, " %18s", cell)
			b.ReportMetric(cpu, fmt.Sprintf("hz%d-%s-cpu%%", hz, []string{"timer", "ask1", "answer", "ask2"}[i]))
		}
		t.WriteString("\n")
		for _, p := range procs {
			_ = p.Kill()
		}
	}
	fmt.Fprintf(&t, "ask: a ticker, one datagram to each peer a tick and a goroutine reading the answers; answer: echoes each\n"+
		"datagram; CPU is counted in ticks of 10 ms: +-%.2f %% over %v\n", 100/clkTck/window.Seconds(), window)
	fmt.Print(t.String())
	b.ReportMetric(0, "ns/op")
}

// pidUsage is procUsageOf a process that must still run.
func pidUsage(tb testing.TB, p *Proc) procUsage {
	tb.Helper()
	u, ok := procUsageOf(p.Pid)
	if !ok {
		tb.Fatalf("%s (pid %d) is gone: %s", p.Name, p.Pid, tail(p.Log, 5))
	}
	return u
}
