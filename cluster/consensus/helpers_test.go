package consensus

import (
	"context"
	"crypto/tls"
	"encoding/gob"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

// testFSM records every command it applies; its response is the count.
type testFSM struct {
	mu    sync.Mutex
	cmds  []string
	delay atomic.Int64 // nanoseconds each Apply takes (a busy FSM)
}

func (f *testFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	time.Sleep(time.Duration(f.delay.Load()))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return len(f.cmds)
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return snap(slices.Clone(f.cmds)), nil
}

func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var cmds []string
	if err := gob.NewDecoder(rc).Decode(&cmds); err != nil {
		return err
	}
	f.mu.Lock()
	f.cmds = cmds
	f.mu.Unlock()
	return nil
}

func (f *testFSM) has(cmd string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.cmds, cmd)
}

type snap []string

func (s snap) Persist(sink raft.SnapshotSink) error {
	if err := gob.NewEncoder(sink).Encode([]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}
func (s snap) Release() {}

func fastTiming() configs.Timing {
	t, _ := configs.TimingPreset("fast")
	return t
}

func testLogger(name string) hclog.Logger {
	var out io.Writer = io.Discard
	if testing.Verbose() && os.Getenv("CONSENSUS_TEST_LOGS") != "" {
		out = os.Stderr
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: out})
}

// freeAddrs reserves n loopback ports by listening and closing.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// testPKI is a CA plus a certificate per node in one temp dir.
type testPKI struct {
	dir, caCert, caKey string
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	c, k, err := tlsutil.CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{dir: dir, caCert: c, caKey: k}
}

func (p testPKI) config(t testing.TB, node string) *tls.Config {
	t.Helper()
	c, k, err := tlsutil.CreateCert(p.caCert, p.caKey, p.dir, node, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := tlsutil.Load(p.caCert, c, k)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// running is one started Node with its FSM and a way to stop it.
type running struct {
	id   string
	cfg  Config
	node *Node
	fsm  *testFSM
	stop func() error
}

// start runs a node built from cfg (with a fresh FSM) until stop or the end
// of the test, and waits until raft is running.
func start(t testing.TB, cfg Config) *running {
	t.Helper()
	fsm := &testFSM{}
	cfg.FSM = fsm
	if cfg.Logger == nil {
		cfg.Logger = testLogger(cfg.NodeID)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run(%s) failed: %v", cfg.NodeID, err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("Run(%s) not ready after 10s", cfg.NodeID)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("Run did not return 10s after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop %s: %v", cfg.NodeID, err)
		}
	})
	return &running{id: cfg.NodeID, cfg: cfg, node: n, fsm: fsm, stop: stop}
}

// tlsCluster starts n nodes on loopback with mutual TLS and on-disk stores.
func tlsCluster(t testing.TB, n int) ([]*running, testPKI) {
	t.Helper()
	return tlsClusterTimed(t, n, fastTiming())
}

// tlsClusterTimed is tlsCluster with the given timing.
func tlsClusterTimed(t testing.TB, n int, timing configs.Timing) ([]*running, testPKI) {
	t.Helper()
	pki := newTestPKI(t)
	addrs := freeAddrs(t, n)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: nodeName(i), Address: a})
	}
	var nodes []*running
	for i := range n {
		nodes = append(nodes, start(t, Config{
			NodeID:   nodeName(i),
			BindAddr: addrs[i],
			DataDir:  filepath.Join(t.TempDir(), nodeName(i)),
			TLS:      pki.config(t, nodeName(i)),
			Peers:    peers,
			Timing:   timing,
		}))
	}
	return nodes, pki
}

func nodeName(i int) string { return "n" + string(rune('1'+i)) }

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaderOf waits for exactly one leader among nodes and returns it.
func leaderOf(t testing.TB, nodes []*running, d time.Duration) *running {
	t.Helper()
	var leader *running
	waitFor(t, d, "a single leader", func() bool {
		leader = nil
		count := 0
		for _, n := range nodes {
			if n.node.IsLeader() {
				leader, count = n, count+1
			}
		}
		return count == 1
	})
	return leader
}

func others(nodes []*running, not *running) []*running {
	var out []*running
	for _, n := range nodes {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

func waitApplied(t testing.TB, nodes []*running, cmd string) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.id+" to apply "+cmd, func() bool { return n.fsm.has(cmd) })
	}
}
