package agent

import (
	"context"
	"net"
	"strconv"
	"testing"
	"testing/synctest"
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

// fakeProbe scripts bracket's steps: attempts answer as listed, the quorum
// acknowledgement and the node's last answer follow the clock.
type fakeProbe struct {
	silent     []bool    // per attempt; attempts beyond it answer
	ackAt      time.Time // quorumAck reports this from ackFrom on
	ackFrom    time.Time
	answerAt   time.Time // the node's last answer, from answerFrom on
	answerFrom time.Time
	attempts   int
	reachAfter time.Duration // the other nodes answer this long after asked; 0: never
	asked      time.Time
}

func (f *fakeProbe) steps(timeout time.Duration) probeSteps {
	return probeSteps{
		attempt: func(ctx context.Context) bool {
			time.Sleep(timeout)
			f.attempts++
			return f.attempts <= len(f.silent) && f.silent[f.attempts-1]
		},
		quorumAck: func() time.Time {
			if !f.ackFrom.IsZero() && !time.Now().Before(f.ackFrom) {
				return f.ackAt
			}
			return time.Time{}
		},
		answered: func() time.Time {
			if !f.answerFrom.IsZero() && !time.Now().Before(f.answerFrom) {
				return f.answerAt
			}
			return time.Time{}
		},
		others: func(ctx context.Context) bool {
			f.asked = time.Now()
			if f.reachAfter == 0 {
				<-ctx.Done()
				return false
			}
			time.Sleep(f.reachAfter)
			return true
		},
		timeout: timeout, maxWait: 100 * time.Millisecond,
	}
}

// A timeout counts as silence only when a second attempt times out too,
// after a majority answered a request sent after the first one's deadline
// (the network worked in between); a switch outage that ends during the
// first attempt must not get a live node fenced.
func TestBracketNeedsAWorkingNetworkBetweenTwoTimeouts(t *testing.T) {
	const timeout = 20 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := &fakeProbe{silent: []bool{true, true}, ackAt: start.Add(25 * time.Millisecond), ackFrom: start.Add(30 * time.Millisecond)}
		if !bracket(context.Background(), f.steps(timeout)) || f.attempts != 2 {
			t.Errorf("powered off, the others answering: silent false after %d attempts; want true after 2", f.attempts)
		}
		if took := time.Since(start); took > 3*timeout {
			t.Errorf("the verdict took %v; want the two attempts and the wait for the next answer", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// Nobody answers (a switch outage, or this node cut off): no
		// second attempt, no verdict.
		f := &fakeProbe{silent: []bool{true, true}}
		if bracket(context.Background(), f.steps(timeout)) || f.attempts != 1 {
			t.Errorf("no quorum evidence: silent after %d attempts", f.attempts)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// The quorum answered only requests sent during the first attempt:
		// the outage may have ended just before its deadline.
		start := time.Now()
		f := &fakeProbe{silent: []bool{true, true}, ackAt: start.Add(15 * time.Millisecond), ackFrom: start.Add(18 * time.Millisecond)}
		if bracket(context.Background(), f.steps(timeout)) {
			t.Error("evidence from before the first attempt's deadline counted")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// The switch is back: the second attempt is answered.
		start := time.Now()
		f := &fakeProbe{silent: []bool{true, false}, ackAt: start.Add(25 * time.Millisecond), ackFrom: start.Add(30 * time.Millisecond)}
		if bracket(context.Background(), f.steps(timeout)) {
			t.Error("silent although the second attempt was answered")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// The node itself answered on the cluster link meanwhile.
		start := time.Now()
		f := &fakeProbe{silent: []bool{true, true}, ackAt: start.Add(25 * time.Millisecond), ackFrom: start.Add(30 * time.Millisecond),
			answerAt: start.Add(26 * time.Millisecond), answerFrom: start.Add(30 * time.Millisecond)}
		if bracket(context.Background(), f.steps(timeout)) {
			t.Error("silent although the node answered raft after the first attempt")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// Another node answers a connection attempt made after the first
		// attempt's deadline: evidence within a round trip, before raft's
		// next heartbeat.
		start := time.Now()
		f := &fakeProbe{silent: []bool{true, true}, reachAfter: time.Millisecond}
		if !bracket(context.Background(), f.steps(timeout)) || f.attempts != 2 {
			t.Errorf("the others answering a connection: silent false after %d attempts", f.attempts)
		}
		if f.asked.Before(start.Add(timeout)) {
			t.Errorf("the others were asked %v after the start, before the first attempt's deadline", f.asked.Sub(start))
		}
		if took := time.Since(start); took > 2*timeout+2*time.Millisecond {
			t.Errorf("the verdict took %v; want two attempts and a round trip", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		f := &fakeProbe{silent: []bool{false}}
		if bracket(context.Background(), f.steps(timeout)) || f.attempts != 1 {
			t.Error("an answered first attempt: silent, or asked again")
		}
	})
}

// A handshake and a refusal both came back over the network: evidence that
// it works. An attempt the peer's kernel drops is not.
func TestAnyAnswersCountsARefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if !anyAnswers(ctx, []string{open}) || !anyAnswers(ctx, []string{closed}) {
		t.Error("a listening or a closed port did not count as an answer")
	}
	full := fullListener(t)
	start := time.Now()
	if anyAnswers(ctx, []string{full}) {
		t.Error("an attempt the peer's kernel dropped counted as an answer")
	}
	if time.Since(start) > time.Second {
		t.Errorf("gave up after %v, not at the context's end", time.Since(start))
	}
	if anyAnswers(context.Background(), nil) {
		t.Error("no other node: an answer")
	}
}
