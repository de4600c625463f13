package agent

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A listening port answers, a closed one refuses: neither is silence (the
// lab's power cuts show the timeout: TestFencing, BenchmarkFencedFailover).
func TestTimedOutCountsOnlyASilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if timedOut(context.Background(), ln.Addr().String(), 100*time.Millisecond, nil) {
		t.Error("a listening port counted as silent")
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if timedOut(context.Background(), net.JoinHostPort("localhost", port), 100*time.Millisecond, nil) {
		t.Error("a listening port named by host name counted as silent")
	}
	addr := ln.Addr().String()
	ln.Close()
	if timedOut(context.Background(), addr, 100*time.Millisecond, nil) {
		t.Error("a refused connection counted as silent")
	}
}

// The kernel decides, not a race between this process's timer and the
// answer: a peer that answered is never silent however short the wait (or
// however late this process looks), and one whose kernel drops the
// attempt is silent. A listener whose accept queue is full drops new SYNs,
// as a powered-off host does: a real unanswered attempt without a lab.
func TestTimedOutAsksTheKernel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range 20 {
		if timedOut(context.Background(), ln.Addr().String(), time.Microsecond, nil) {
			t.Fatal("a listening port counted as silent after a 1 µs wait")
		}
	}
	greeted := false
	if timedOut(context.Background(), ln.Addr().String(), 10*time.Millisecond, func(net.Conn) { greeted = true }) || !greeted {
		t.Errorf("an answered attempt was not greeted")
	}

	full := fullListener(t)
	if !timedOut(context.Background(), full, 50*time.Millisecond, nil) {
		t.Error("an attempt the peer's kernel dropped did not count as silent")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if timedOut(ctx, full, 50*time.Millisecond, nil) {
		t.Error("a cancelled probe counted as silent")
	}
}

// fullListener listens on a loopback port with an accept queue of one that
// it never accepts from, and fills the queue: the kernel drops further SYNs.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	// Fill the queue: attempts complete until it is full, then hang.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i > 16 {
			t.Fatal("the accept queue never filled")
		}
	}
	return addr
}
