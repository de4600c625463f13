package membership

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/configs"
)

// countWriter counts log lines about undecodable input (label, decryption
// or framing errors).
type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	s := strings.ToLower(string(p))
	for _, k := range []string{"label", "decrypt", "127.0.0.7", "failed to receive", "unknown message", "decode"} {
		if strings.Contains(s, k) {
			w.n.Add(1)
			break
		}
	}
	return len(p), nil
}

// TestStrangerPacketsDroppedBeforeDecryption: a flood of garbage datagrams
// and streams from an address that is no configured peer is dropped by the
// transport filter (counted, never decrypted, never logged); the same flood
// from a peer's address is logged at a limited rate. The cluster stays up.
func TestStrangerPacketsDroppedBeforeDecryption(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2")
	// The lan preset: this test asserts that nobody is suspected during the
	// stranger flood, which the fast preset's 100 ms probe timeout cannot
	// promise on a loaded machine (go test -race) whatever the filter does.
	lan, _ := configs.TimingPreset("lan")
	for i := range cfgs {
		cfgs[i].Timing = lan
	}
	logs := &countWriter{}
	cfgs[0].Logger = hclog.New(&hclog.LoggerOptions{Name: "n1", Level: hclog.Warn, Output: logs})
	n1, n2 := start(t, cfgs[0]), start(t, cfgs[1])
	waitFor(t, n1, 5*time.Second, "n2 alive", stateIs("n2", StateAlive))
	target, _ := net.ResolveUDPAddr("udp", cfgs[0].BindAddr)

	flood := func(from string, n int) {
		t.Helper()
		u, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, target)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		buf := []byte(strings.Repeat("garbage!", 20))
		for i := range n {
			buf[0] = byte(i)
			_, _ = u.Write(buf)
			if i%20 == 0 {
				// Pace it: the test is about what the agent does with the
				// packets, not about overflowing the kernel's socket buffer.
				time.Sleep(time.Millisecond)
			}
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: time.Second}
		for range 20 {
			if c, err := d.Dial("tcp", cfgs[0].BindAddr); err == nil {
				_, _ = c.Write(buf)
				c.Close()
			}
		}
	}
	before := logs.n.Load()
	flood("127.0.0.7", 2000)
	waitFor(t, n1, 5*time.Second, "drops counted", func([]Member) bool { return n1.m.Dropped() >= 1500 })
	time.Sleep(200 * time.Millisecond)
	if l := logs.n.Load() - before; l > 0 {
		t.Errorf("stranger flood caused %d log lines", l)
	}
	for _, n := range []*node{n1, n2} {
		for _, mb := range n.m.Members() {
			if mb.State != StateAlive {
				t.Errorf("%s sees %s %s after the stranger flood", n.name, mb.Name, mb.State)
			}
		}
	}

	before = logs.n.Load()
	flood("127.0.0.1", 2000) // a peer's address: decrypted, refused, logged at a bounded rate
	time.Sleep(500 * time.Millisecond)
	if l := logs.n.Load() - before; l > 40 {
		t.Errorf("peer-address flood caused %d log lines, want a rate-limited few", l)
	}
	// Packets forged with a peer's source address cost decryption and may
	// delay a probe (a suspicion the peer refutes), but nobody goes dead.
	for _, n := range []*node{n1, n2} {
		waitFor(t, n, 5*time.Second, "everyone alive", allAlive("n1", "n2"))
	}
}

// TestKeyMismatchShowsAsPeerError: a node with another gossip key shows up
// in PeerErrors of the node it tries to reach.
func TestKeyMismatchShowsAsPeerError(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2")
	cfgs[1].Key = []byte("fedcba9876543210fedcba9876543210")
	n1 := start(t, cfgs[0])
	start(t, cfgs[1])
	waitFor(t, n1, 5*time.Second, "a decryption error from n2", func([]Member) bool {
		e, ok := n1.m.PeerErrors()["127.0.0.1"]
		return ok && strings.Contains(e.Error, "gossip key mismatch")
	})
}

// TestPeersOnOwnAddressesJoin: nodes on distinct loopback addresses join
// over TCP push/pull: streams leave from the node's heartbeat IP, which is
// what the peers' filter expects (the kernel would pick 127.0.0.1).
func TestPeersOnOwnAddressesJoin(t *testing.T) {
	ports := freePorts(t, 2)
	a := "127.0.0.21:" + strconv.Itoa(ports[0])
	b := "127.0.0.22:" + strconv.Itoa(ports[1])
	n1 := start(t, Config{Name: "n1", BindAddr: a, Peers: []string{b}, Key: testKey, Label: "edge", Timing: fastTiming})
	n2 := start(t, Config{Name: "n2", BindAddr: b, Peers: []string{a}, Key: testKey, Label: "edge", Timing: fastTiming})
	waitFor(t, n1, 10*time.Second, "n2 alive", stateIs("n2", StateAlive))
	waitFor(t, n2, 10*time.Second, "n1 alive", stateIs("n1", StateAlive))
	if n1.m.Dropped()+n2.m.Dropped() != 0 {
		t.Fatalf("peers' own traffic dropped: %d, %d", n1.m.Dropped(), n2.m.Dropped())
	}
}
