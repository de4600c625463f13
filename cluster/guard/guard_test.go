package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The client tests run the guard as a real process: this test binary with
// GUARD_TEST_SERVE set serves with holders that append what they do to the
// file GUARD_TEST_LOG.
func TestMain(m *testing.M) {
	if sock := os.Getenv("GUARD_TEST_SERVE"); sock != "" {
		log := os.Getenv("GUARD_TEST_LOG")
		err := Serve(context.Background(), Config{Socket: sock, Lifetime: 2 * time.Second,
			NewHolder: func(a, i string) (Holder, error) { return &fileHolder{path: log, name: a}, nil }})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// guardProcess makes a guard that a Client starts this test binary serving
// (TestMain), and returns its socket, the file its holders note what they do
// in, and the command that starts it.
func guardProcess(t *testing.T) (sock, logf string, command []string) {
	t.Helper()
	dir := t.TempDir()
	sock, logf = filepath.Join(dir, "g.sock"), filepath.Join(dir, "ops")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GUARD_TEST_SERVE", sock)
	t.Setenv("GUARD_TEST_LOG", logf)
	return sock, logf, []string{self}
}

type fileHolder struct{ path, name string }

func (h *fileHolder) note(op string) {
	f, err := os.OpenFile(h.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		fmt.Fprintf(f, "%s %s\n", op, h.name)
		f.Close()
	}
}
func (h *fileHolder) Renew(context.Context, time.Duration) (bool, error) {
	h.note("renew")
	return true, nil
}
func (h *fileHolder) Remove(context.Context) error { h.note("remove"); return nil }
func (h *fileHolder) String() string               { return h.name }

// memHolder records in memory, for the in-process server tests.
type memHolder struct {
	mu  *sync.Mutex
	ops *[]string
	n   string
}

func (h memHolder) add(op string) { h.mu.Lock(); *h.ops = append(*h.ops, op+" "+h.n); h.mu.Unlock() }
func (h memHolder) Renew(context.Context, time.Duration) (bool, error) {
	h.add("renew")
	return true, nil
}
func (h memHolder) Remove(context.Context) error { h.add("remove"); return nil }
func (h memHolder) String() string               { return h.n }

type server struct {
	t    *testing.T
	mu   sync.Mutex
	ops  []string
	conn net.Conn
	rd   *bufio.Reader
	done chan error
}

func startServer(t *testing.T) *server { return startServerLogging(t, hclog.NewNullLogger()) }

// startServerLogging is startServer with the guard logging to log.
func startServerLogging(t *testing.T, log hclog.Logger) *server {
	t.Helper()
	s := &server{t: t, done: make(chan error, 1)}
	sock := filepath.Join(t.TempDir(), "g.sock")
	go func() {
		s.done <- Serve(context.Background(), Config{Socket: sock, Lifetime: 2 * time.Second, Logger: log,
			NewHolder: func(a, i string) (Holder, error) { return memHolder{mu: &s.mu, ops: &s.ops, n: a}, nil }})
	}()
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err == nil {
			s.conn, s.rd = c, bufio.NewReader(c)
			return s
		}
		if i > 200 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) call(r request) reply {
	s.t.Helper()
	b, _ := json.Marshal(r)
	if _, err := s.conn.Write(append(b, '\n')); err != nil {
		s.t.Fatal(err)
	}
	line, err := s.rd.ReadBytes('\n')
	if err != nil {
		s.t.Fatal(err)
	}
	var rep reply
	if err := json.Unmarshal(line, &rep); err != nil {
		s.t.Fatal(err)
	}
	return rep
}

func (s *server) removed(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.ops {
		if op == "remove "+name {
			return true
		}
	}
	return false
}

func in(d time.Duration) int64 { return bootNow() + int64(d) }

func TestAgentGoneRemovesAtOnceAndGuardExits(t *testing.T) {
	s := startServer(t)
	if rep := s.call(request{Op: "hold", Key: "web/vip", Address: "a", Deadline: in(time.Hour)}); !rep.OK {
		t.Fatal(rep.Error)
	}
	s.conn.Close()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("guard did not exit after the agent went away")
	}
	if !s.removed("a") {
		t.Errorf("address not removed when the agent went away: %v", s.ops)
	}
}

func TestDeadlineWithoutRenewalRemoves(t *testing.T) {
	s := startServer(t)
	if rep := s.call(request{Op: "hold", Key: "web/vip", Address: "a", Deadline: in(300 * time.Millisecond)}); !rep.OK {
		t.Fatal(rep.Error)
	}
	// Renewed: still held past the first deadline.
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		s.call(request{Op: "renew", Deadline: in(300 * time.Millisecond)})
	}
	if s.removed("a") {
		t.Fatalf("removed while renewed: %v", s.ops)
	}
	// Not renewed: removed within a check period of the deadline.
	time.Sleep(500 * time.Millisecond)
	if !s.removed("a") {
		t.Fatalf("not removed after the deadline passed: %v", s.ops)
	}
	// A hold needs a lease; the reply counts the lapse, so the agent can
	// tell the removal from a failure of the address.
	rep := s.call(request{Op: "hold", Key: "web/vip", Address: "b", Deadline: 1})
	if rep.OK {
		t.Error("hold accepted without a lease")
	}
	if rep.Lapses != 1 {
		t.Errorf("lapses = %d, want 1", rep.Lapses)
	}
}

func TestReleasedAddressIsNotRemoved(t *testing.T) {
	s := startServer(t)
	s.call(request{Op: "hold", Key: "web/vip", Address: "a", Deadline: in(time.Hour)})
	s.call(request{Op: "release", Key: "web/vip"})
	s.conn.Close()
	<-s.done
	if s.removed("a") {
		t.Errorf("a released address was removed: %v", s.ops)
	}
}

func TestClientReplacesAKilledGuardAndHandsItTheAddresses(t *testing.T) {
	sock, logf, command := guardProcess(t)
	c := NewClient(ClientConfig{Socket: sock, Command: command,
		Lease: func() (time.Time, bool) { return time.Now().Add(time.Second), true }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	if err := c.Hold(ctx, "web/vip", "a", "eth0"); err != nil {
		t.Fatal(err)
	}
	first := c.Pid()
	p, _ := os.FindProcess(first)
	_ = p.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for c.Pid() == first || c.Pid() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the killed guard was not replaced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	b, _ := os.ReadFile(logf)
	if strings.Contains(string(b), "remove") {
		t.Fatalf("a guard removed the address although the agent lives:\n%s", b)
	}
	// The agent leaves: the new guard removes what is still held.
	cancel()
	<-done
	b, _ = os.ReadFile(logf)
	if !strings.Contains(string(b), "remove a") {
		t.Errorf("the new guard did not hold the address:\n%s", b)
	}
}

// A new guard (for a restarted agent) waits until the old one has swept and
// exited: never two guards acting at once.
func TestNewGuardWaitsForTheOldOnesSweep(t *testing.T) {
	s := startServer(t)
	sock := s.conn.RemoteAddr().String()
	s.call(request{Op: "hold", Key: "web/vip", Address: "a", Deadline: in(time.Hour)})
	var mu sync.Mutex
	var ops []string
	second := make(chan error, 1)
	go func() {
		second <- Serve(context.Background(), Config{Socket: sock, Logger: hclog.NewNullLogger(), AcceptWait: 5 * time.Second,
			NewHolder: func(a, i string) (Holder, error) { return memHolder{mu: &mu, ops: &ops, n: a}, nil }})
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-second:
		t.Fatalf("second guard did not wait for the first: %v", err)
	default:
	}
	s.conn.Close() // the old agent dies: the old guard sweeps and exits
	<-s.done
	if !s.removed("a") {
		t.Fatal("old guard did not sweep")
	}
	var c net.Conn
	var err error
	for i := 0; i < 200; i++ {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("second guard never listened: %v", err)
	}
	c.Close()
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// An address kept for maintenance survives the agent's exit.
func TestKeptAddressSurvivesTheAgent(t *testing.T) {
	s := startServer(t)
	s.call(request{Op: "hold", Key: "web/vip", Address: "a", Deadline: in(time.Hour)})
	if rep := s.call(request{Op: "keep", Key: "web/vip", Address: "a"}); !rep.OK {
		t.Fatal(rep.Error)
	}
	s.conn.Close()
	<-s.done
	if s.removed("a") {
		t.Errorf("a kept address was removed: %v", s.ops)
	}
}

// The lapse count carries over when a guard is replaced (a new guard counts
// from 0), and the replacement of a guard holding addresses counts as one:
// the executor compares the count with the one when it started an address.
func TestLapsesCarryOverAGuardReplacement(t *testing.T) {
	sock, _, command := guardProcess(t)
	var lapsed atomic.Bool
	var told atomic.Int64 // Lapsed calls: the executor learns of each lapse
	c := NewClient(ClientConfig{Socket: sock, Command: command,
		Lease: func() (time.Time, bool) {
			if lapsed.Load() {
				return time.Time{}, false
			}
			return time.Now().Add(time.Second), true
		},
		Lapsed: func() { told.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 5s (lapses %d)", what, c.Lapses())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	lapse := func() {
		t.Helper()
		if err := c.Hold(ctx, "web/vip", "a", "eth0"); err != nil {
			t.Fatal(err)
		}
		before := c.Lapses()
		lapsed.Store(true)
		waitFor("a lapse counted", func() bool { return c.Lapses() > before })
		lapsed.Store(false)
	}
	lapse()
	first := c.Pid()
	p, _ := os.FindProcess(first)
	_ = p.Kill()
	waitFor("a new guard", func() bool { return c.Pid() != first && c.Pid() != 0 })
	// Carried over, and the replacement of a guard that held an address
	// counts too (its kernel lifetime may have run out while it was stuck).
	if n := c.Lapses(); n != 2 {
		t.Fatalf("lapses after the replacement = %d, want 2", n)
	}
	lapse()
	if n := c.Lapses(); n != 3 {
		t.Errorf("lapses = %d, want 3", n)
	}
	if n := told.Load(); n != 3 {
		t.Errorf("Lapsed called %d times, want 3 (once per lapse)", n)
	}
}
