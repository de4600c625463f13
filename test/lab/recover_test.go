package lab

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRecoverFromALostMajority is the disaster a witness does not cover: the
// active load balancer n2 and the witness lose their power for good. n1
// alone has no quorum and must not start the VIP. The operator stops n1's
// agent, runs `vigil recover -voters n1` (refused while the agent runs) and
// starts it again: n1 leads alone, the VIP answers from it and the
// history says what the operator did. The witness
// comes back as a new machine (empty data_dir) and `vigil node add w` makes
// it a voter again, the VIP staying on n1.
func TestRecoverFromALostMajority(t *testing.T) {
	l := New(t, "vlabrec")
	c := StartCluster(l, ClusterSpec{LogLevel: "info", Extra: vipGroupHCL("n2")})
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	waitGroupStarted(t, c, "vip", "n2", settle)
	n1 := c.Node("n1")

	c.PowerOff("n2")
	c.PowerOff("w")
	time.Sleep(2 * time.Second) // several leases and elections
	if n1.Host.HasAddr(WebVIP) {
		t.Fatal("n1 started the VIP without a quorum")
	}
	recover := func() (string, error) {
		return n1.Host.Run(c.Bin, "recover", "-config", n1.Config, "-voters", "n1", "-yes")
	}
	if out, err := recover(); err == nil || !strings.Contains(out, "stop this node's agent first") {
		t.Fatalf("recover while the agent runs: %v\n%s", err, out)
	}
	c.Stop("n1")
	out, err := recover()
	if err != nil || !strings.Contains(out, "keeps n1; removes n2, w") || !strings.Contains(out, "voters n1.") {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	start := time.Now()
	c.Start("n1")
	if !n1.Host.WaitAddr(WebVIP, true, settle) {
		t.Fatal("the VIP did not come up on n1 after the recovery")
	}
	took := time.Since(start)
	waitGroupStarted(t, c, "vip", "n1", settle)
	if st := mustStatus(t, c, "n1"); st.Leader != "n1" {
		t.Fatalf("leader after the recovery: %q, want n1", st.Leader)
	}

	c.Eventually(settle, "the recovery in the history", func() error {
		for _, e := range history(t, c, "n1") {
			if e.Kind == "recover" && strings.Contains(e.Message, "voters n1; removed n2, w") {
				return nil
			}
		}
		return fmt.Errorf("no recover event")
	})

	w := c.Node("w")
	w.Host.PowerOn()
	if err := os.RemoveAll(w.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(w.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.Start("w")
	c.Eventually(settle, "w added back as a voter", func() error {
		out, err := c.CLI("n1", "node", "add", "w")
		if err != nil || !strings.Contains(out, "raft voters: n1, w") {
			return fmt.Errorf("node add w: %v: %s", err, out)
		}
		return nil
	})
	c.Eventually(settle, "w online in n1's status", func() error {
		st, err := c.Status("n1")
		if err != nil {
			return err
		}
		if ns, ok := NodeOf(st, "w"); !ok || ns.State != "online" {
			return fmt.Errorf("w: %+v", ns)
		}
		return nil
	})
	if !n1.Host.HasAddr(WebVIP) {
		t.Error("the VIP left n1 when the witness came back")
	}
	t.Logf("VIP on n1 %v after its recovered agent started", took.Round(time.Millisecond))
}
