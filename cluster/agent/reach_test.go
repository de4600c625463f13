package agent

import (
	"context"
	"net"
	"testing"
	"time"
)

// A listening port answers, a closed one refuses: neither is silence (the
// lab's power cuts show the timeout: TestFencing, BenchmarkFencedFailover).
func TestTimedOutCountsOnlyASilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if timedOut(context.Background(), ln.Addr().String(), time.Second, nil) {
		t.Error("a listening port counted as silent")
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if timedOut(context.Background(), net.JoinHostPort("localhost", port), time.Second, nil) {
		t.Error("a listening port named by host name counted as silent")
	}
	addr := ln.Addr().String()
	ln.Close()
	if timedOut(context.Background(), addr, time.Second, nil) {
		t.Error("a refused connection counted as silent")
	}
}
