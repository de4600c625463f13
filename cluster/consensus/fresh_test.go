package consensus

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// TestMain: this test binary with raftPeerEnv set is a peer process that
// answers vote requests on its cluster port until killed
// (TestPooledRaftConnectionSurvivesPeerRestart).
func TestMain(m *testing.M) {
	if spec := os.Getenv(raftPeerEnv); spec != "" {
		servePeer(strings.Split(spec, ","))
	}
	os.Exit(m.Run())
}

const raftPeerEnv = "VIGIL_TEST_RAFT_PEER"

// servePeer runs node n2 of a two-node cluster: spec is n1's and n2's
// cluster addresses, n2's data dir, the CA, certificate and key files.
func servePeer(spec []string) {
	fail := func(err error) {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	conf, err := tlsutil.Load(spec[3], spec[4], spec[5])
	if err != nil {
		fail(err)
	}
	n, err := New(Config{NodeID: "n2", BindAddr: spec[1], DataDir: spec[2], TLS: conf, Timing: fastTiming(),
		FSM: &testFSM{}, Peers: []Peer{{ID: "n1", Address: spec[0]}, {ID: "n2", Address: spec[1]}}})
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	trans, _, err := n.listen(&wg)
	if err != nil {
		fail(err)
	}
	os.Stdout.WriteString("ready\n")
	for rpc := range trans.Consumer() {
		rpc.Respond(&raft.RequestVoteResponse{Term: 7, Granted: true}, nil)
	}
}

// TestPooledRaftConnectionSurvivesPeerRestart: a node that talked to a peer
// keeps the connections in raft's pool; the peer's process restarts (a
// rolling restart). The next vote request must reach the new process at the
// first try, not fail with EOF on a dead connection: a candidate would lose
// its election, a leadership transfer its target.
func TestPooledRaftConnectionSurvivesPeerRestart(t *testing.T) {
	pki := newTestPKI(t)
	addrs := freeAddrs(t, 2)
	cert, key, err := tlsutil.CreateCert(pki.caCert, pki.caKey, pki.dir, "n2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Join([]string{addrs[0], addrs[1], t.TempDir(), pki.caCert, cert, key}, ",")
	peer := func() *exec.Cmd {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), raftPeerEnv+"="+spec)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		buf := make([]byte, 6)
		if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
			t.Fatalf("peer process not ready: %q %v", buf, err)
		}
		return cmd
	}

	n, err := New(Config{NodeID: "n1", BindAddr: addrs[0], DataDir: t.TempDir(), TLS: pki.config(t, "n1"),
		Timing: fastTiming(), FSM: &testFSM{}, Peers: []Peer{{ID: "n1", Address: addrs[0]}, {ID: "n2", Address: addrs[1]}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	client, ln, err := n.listen(&wg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close(); closeTransport(client); wg.Wait() })
	vote := func() error {
		var resp raft.RequestVoteResponse
		return client.RequestVote("n2", raft.ServerAddress(addrs[1]), &raft.RequestVoteRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("n1"), Addr: []byte(addrs[0])}, Term: 7}, &resp)
	}

	first := peer()
	var votes sync.WaitGroup
	for range maxPool { // concurrent, so the pool fills with used connections
		votes.Add(1)
		go func() {
			defer votes.Done()
			if err := vote(); err != nil {
				t.Errorf("vote before the restart: %v", err)
			}
		}()
	}
	votes.Wait()
	_ = first.Process.Kill() // its kernel closes the connections (FIN)
	_ = first.Wait()
	time.Sleep(20 * time.Millisecond)
	peer()
	for i := range maxPool + 1 {
		if err := vote(); err != nil {
			t.Fatalf("vote %d after the peer restarted: %v", i+1, err)
		}
	}
}
