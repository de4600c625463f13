package membership

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// The leader's reach probe (agent/reach.go) opens a TCP connection to a
// peer's heartbeat port and closes it after the cluster's label header:
// memberlist takes that quietly, no warning and no peer error. Closed
// without the header, the stream counts as another cluster's, and the peer
// would warn of a label mismatch with the leader: why the probe sends it.
func TestProbeStreamWithTheLabelIsQuiet(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2")
	logs := &countWriter{}
	cfgs[0].Logger = hclog.New(&hclog.LoggerOptions{Name: "n1", Level: hclog.Warn, Output: logs})
	n1, _ := start(t, cfgs[0]), start(t, cfgs[1])
	waitFor(t, n1, 5*time.Second, "n2 alive", stateIs("n2", StateAlive))
	probe := func(header bool) {
		t.Helper()
		c, err := net.Dial("tcp", cfgs[0].BindAddr)
		if err != nil {
			t.Fatal(err)
		}
		if header {
			if err := memberlist.AddLabelHeaderToStream(c, cfgs[0].Label); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	for range 3 {
		probe(true)
	}
	time.Sleep(300 * time.Millisecond)
	if n := logs.n.Load(); n != 0 || len(n1.m.PeerErrors()) != 0 {
		t.Fatalf("probes with the label: %d warnings, peer errors %v", n, n1.m.PeerErrors())
	}
	probe(false)
	deadline := time.Now().Add(5 * time.Second)
	for len(n1.m.PeerErrors()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a stream without the label header went unnoticed: the test shows nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
