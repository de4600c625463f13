package health_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/health"
)

// BenchmarkHTTPCheck measures one http check run against a local server
// (a fresh TCP connection every run).
func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, err := health.NewHTTP(health.Spec{Params: map[string]string{"url": srv.URL}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res := runWithin(c, time.Second); !res.OK {
			b.Fatal(res)
		}
	}
}

// BenchmarkTCPCheck measures one plain connect check.
func BenchmarkTCPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, err := health.NewTCP(health.Spec{Params: map[string]string{"address": srv.Listener.Addr().String()}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res := runWithin(c, time.Second); !res.OK {
			b.Fatal(res)
		}
	}
}

// BenchmarkExecCheck measures one "/bin/sh -c true" run (fork+exec cost).
func BenchmarkExecCheck(b *testing.B) {
	c, err := health.NewExec(health.Spec{Params: map[string]string{"command": "true"}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res := runWithin(c, time.Second); !res.OK {
			b.Fatal(res)
		}
	}
}

// BenchmarkDetection measures how long the Runner takes, from the moment a
// server starts answering 503, to report the check unhealthy (fall=3,
// interval 50ms). Reported as ms and as a multiple of the interval; the
// design bound is fall x interval.
func BenchmarkDetection(b *testing.B) {
	const interval = 50 * time.Millisecond
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	c, err := health.NewHTTP(health.Spec{Params: map[string]string{"url": srv.URL}})
	if err != nil {
		b.Fatal(err)
	}
	var total, worst time.Duration
	n := 0
	for b.Loop() {
		status.Store(200)
		r, err := health.NewRunner(health.RunnerConfig{Checks: []health.Named{
			{Name: "site", Check: c, Interval: interval, Timeout: time.Second, Rise: 1, Fall: 3}}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		waitBench(b, r, health.StateHealthy)
		// Break the service at a random point within the interval.
		time.Sleep(time.Duration(n%5) * interval / 5)
		status.Store(503)
		start := time.Now()
		waitBench(b, r, health.StateUnhealthy)
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		n++
		cancel()
		<-done
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/detect")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
	b.ReportMetric(float64(total)/float64(n)/float64(interval), "intervals/detect")
}

func waitBench(b *testing.B, r *health.Runner, state string) {
	b.Helper()
	timeout := time.After(10 * time.Second)
	for r.Snapshot()[0].State != state {
		select {
		case <-r.Changes():
		case <-timeout:
			b.Fatalf("never reached %s: %+v", state, r.Snapshot())
		}
	}
}
