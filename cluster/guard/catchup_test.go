package guard

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// socketPair returns two connected unix stream sockets.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

func TestUnreadSeesBytesNotReadYet(t *testing.T) {
	agent, guard := socketPair(t)
	if unread(guard) {
		t.Fatal("a fresh socket has unread bytes")
	}
	if _, err := agent.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if !unread(guard) {
		t.Fatal("a request in the socket is not seen")
	}
	if _, err := io.ReadFull(guard, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	if unread(guard) {
		t.Fatal("read bytes are still seen")
	}
}

// A renewal sent in time, still in the socket when the deadline passes (the
// guard was starved of CPU), is read before the guard sweeps; with nothing
// in the socket the guard sweeps at once.
func TestCatchUpReadsARenewalSentInTime(t *testing.T) {
	for _, sent := range []bool{true, false} {
		agent, guard := socketPair(t)
		s, removed := lapsedSession(guard)
		msgs := make(chan incoming, 1)
		if sent {
			b, _ := json.Marshal(request{Op: "renew", Deadline: in(time.Second)})
			if _, err := agent.Write(append(b, '\n')); err != nil {
				t.Fatal(err)
			}
			// The starved reader gets its turn a moment later.
			go func() {
				time.Sleep(5 * time.Millisecond)
				line, _ := bufio.NewReader(guard).ReadBytes('\n')
				var r request
				err := json.Unmarshal(line, &r)
				msgs <- incoming{req: r, err: err}
			}()
		}
		soon := time.NewTimer(time.Hour)
		if !s.catchUp(guard, msgs, soon) {
			t.Fatal("catchUp: agent gone")
		}
		s.enforce()
		if r := removed(); r == sent {
			t.Errorf("renewal in the socket %v: removed %v", sent, r)
		}
	}
}

// A dead agent is reported as gone, not as a lapsed deadline, even when the
// deadline passed before the guard's reader saw the hang-up.
func TestHungUpAgentIsGoneNotLapsed(t *testing.T) {
	agent, guard := socketPair(t)
	if hungUp(guard) {
		t.Fatal("a live agent looks hung up")
	}
	if _, err := agent.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if hungUp(guard) {
		t.Fatal("an agent with a request in the socket looks hung up")
	}
	if _, err := io.ReadFull(guard, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	agent.Close()
	if !hungUp(guard) {
		t.Fatal("a closed agent end is not seen")
	}
	s, removed := lapsedSession(guard)
	if s.catchUp(guard, make(chan incoming), time.NewTimer(time.Hour)) {
		t.Fatal("catchUp went on with the agent gone")
	}
	if !removed() {
		t.Fatal("the addresses must go")
	}
}

// lapsedSession is a session on guard holding one address whose deadline
// has just passed; removed tells whether the address was removed.
func lapsedSession(guard net.Conn) (s *session, removed func() bool) {
	var mu sync.Mutex
	var ops []string
	s = &session{log: hclog.NewNullLogger(), enc: json.NewEncoder(guard),
		holds: map[string]Holder{"vip": memHolder{mu: &mu, ops: &ops, n: "vip"}}, deadline: bootNow() - 1}
	return s, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(ops, "remove vip")
	}
}
