package membership

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/configs"
)

// fastTiming is the "fast" preset's memberlist part.
var fastTiming = configs.Timing{
	Preset:         "fast",
	ProbeInterval:  200 * time.Millisecond,
	ProbeTimeout:   100 * time.Millisecond,
	SuspicionMult:  2,
	GossipInterval: 200 * time.Millisecond,
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// metaBox holds a node's Meta for its Meta func, changeable by the test.
type metaBox struct {
	mu sync.Mutex
	m  Meta
}

func (b *metaBox) get() Meta {
	b.mu.Lock()
	defer b.mu.Unlock()
	return cloneMeta(b.m)
}

func (b *metaBox) set(f func(*Meta)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.m)
}

// node is one running Membership in a test.
type node struct {
	name   string
	cfg    Config
	meta   *metaBox
	m      *Membership
	cancel context.CancelFunc
	done   chan error
}

// testLogger logs to t until the test's cleanups run (memberlist goroutines
// may still log briefly after Shutdown returns).
func testLogger(t testing.TB, name string) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: w})
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// start runs a Membership for cfg until the test ends (or stop/kill).
func start(t testing.TB, cfg Config) *node {
	t.Helper()
	box := &metaBox{m: Meta{Role: "node", Version: "test", Health: map[string]bool{"web": true}}}
	if cfg.Meta == nil {
		cfg.Meta = box.get
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, cfg.Name)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	n := startMembership(t, m, cfg)
	n.meta = box
	return n
}

// startMembership runs an already built m (cfg is what it was built from).
func startMembership(t testing.TB, m *Membership, cfg Config) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{name: cfg.Name, cfg: cfg, m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-n.done:
		t.Fatalf("Run(%s) returned early: %v", cfg.Name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s not ready", cfg.Name)
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop leaves gracefully (idempotent).
func (n *node) stop(t testing.TB) {
	n.cancel()
	select {
	case err, ok := <-n.done:
		if !ok {
			return
		}
		if err != nil {
			t.Errorf("Run(%s): %v", n.name, err)
		}
		close(n.done)
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop", n.name)
	}
}

// kill stops like a crash: memberlist shuts down without leaving.
func (n *node) kill(t testing.TB) {
	n.m.noLeave = true
	n.stop(t)
}

func (n *node) member(name string) (Member, bool) {
	for _, mb := range n.m.Members() {
		if mb.Name == name {
			return mb, true
		}
	}
	return Member{}, false
}

// waitFor polls cond (and wakes on Changes) until it holds or timeout.
func waitFor(t testing.TB, n *node, timeout time.Duration, what string, cond func([]Member) bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond(n.m.Members()) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s: timed out waiting for %s; members: %+v", n.name, what, n.m.Members())
		case <-n.m.Changes():
		case <-tick.C:
		}
	}
}

func stateIs(name string, s State) func([]Member) bool {
	return func(ms []Member) bool {
		for _, m := range ms {
			if m.Name == name {
				return m.State == s
			}
		}
		return false
	}
}

func allAlive(names ...string) func([]Member) bool {
	return func(ms []Member) bool {
		for _, name := range names {
			if !stateIs(name, StateAlive)(ms) {
				return false
			}
		}
		return true
	}
}

// freePorts returns n ports free for both UDP and TCP on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		ports = append(ports, port)
	}
	return ports
}

// udpCluster builds configs for n nodes on loopback that all know each other.
func udpCluster(t testing.TB, names ...string) []Config {
	ports := freePorts(t, len(names))
	addrs := make([]string, len(names))
	for i, p := range ports {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	cfgs := make([]Config, len(names))
	for i, name := range names {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		cfgs[i] = Config{Name: name, BindAddr: addrs[i], Peers: peers, Key: testKey, Label: "edge", Timing: fastTiming}
	}
	return cfgs
}
