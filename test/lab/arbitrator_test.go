package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Two pairs, no fencing hardware, one shared arbitrator (`vigil arbitrator`
// on host "arb"): pair a (a1, a2) and pair b (b1, b2), each with its own CA
// and its own VIP group preferring its first node.
const (
	arbAddr = "198.18.0.30"
	arbPort = 7310
)

var arbPairs = map[string][]ClusterHost{
	"a": {{Name: "a1", Pub: "198.18.0.21", HB: "198.18.1.21"}, {Name: "a2", Pub: "198.18.0.22", HB: "198.18.1.22"}},
	"b": {{Name: "b1", Pub: "198.18.0.23", HB: "198.18.1.23"}, {Name: "b2", Pub: "198.18.0.24", HB: "198.18.1.24"}},
}

var arbVIPs = map[string]string{"a": "198.18.0.110", "b": "198.18.0.120"}

func arbGroupHCL(cluster string) string {
	first := arbPairs[cluster][0].Name
	return fmt.Sprintf(`group "vip" {
  prefer   = %q
  failback = false
  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }
}
`, first, arbVIPs[cluster])
}

// vipHolders lists the nodes of c holding vip.
func vipHolders(c *Cluster, vip string) []string {
	var out []string
	for _, n := range c.Nodes {
		if n.Host.HasAddr(vip) {
			out = append(out, n.Name)
		}
	}
	return out
}

func waitVIPOn(c *Cluster, vip, node string, timeout time.Duration) {
	c.Lab.tb.Helper()
	c.Eventually(timeout, vip+" on "+node+" only", func() error {
		if h := vipHolders(c, vip); !slices.Equal(h, []string{node}) {
			return fmt.Errorf("holders %v", h)
		}
		return nil
	})
}

func TestArbitratorTwoPairs(t *testing.T) {
	l := New(t, "vlabarb")
	arb := l.AddHost("arb", arbAddr, "198.18.1.30")
	bin := Vigil(t)

	// The arbitrator's own CA and certificate (its IP in the SAN).
	arbDir := filepath.Join(l.Dir(), "arb")
	if err := os.MkdirAll(arbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"tls", "ca", "create", "-dir", arbDir},
		{"tls", "cert", "create", "-dir", arbDir, "-node", "arbitrator", "-ip", arbAddr},
	} {
		if out, err := run(append([]string{bin}, args...)...); err != nil {
			t.Fatalf("vigil %v: %v\n%s", args, err, out)
		}
	}

	clusters := map[string]*Cluster{}
	for _, name := range []string{"a", "b"} {
		extra := fmt.Sprintf("  priority_fence_delay = %q\n  arbitrator {\n    address = \"%s:%d\"\n    ca_file = %q\n  }\n",
			pairPriorityDelay, arbAddr, arbPort, filepath.Join(arbDir, "ca.pem"))
		clusters[name] = prepareCluster(l, ClusterSpec{Name: name, Preset: "fast", TwoNode: true, ClusterExtra: extra,
			Hosts: arbPairs[name], Extra: arbGroupHCL(name)}, bin)
	}
	// The arbitrator trusts both clusters' CAs.
	var bundle []byte
	for _, name := range []string{"a", "b"} {
		b, err := os.ReadFile(filepath.Join(clusters[name].tlsDir(), "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	caBundle := filepath.Join(arbDir, "clusters-ca.pem")
	if err := os.WriteFile(caBundle, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	arbArgs := []string{bin, "arbitrator", "-listen", fmt.Sprintf("%s:%d", arbAddr, arbPort), "-ca", caBundle,
		"-cert", filepath.Join(arbDir, "arbitrator.pem"), "-key", filepath.Join(arbDir, "arbitrator-key.pem"),
		"-state", filepath.Join(arbDir, "state.json"), "-log-level", "debug"}
	arbProc := arb.Start("arbitrator", arbArgs...)

	samplers := map[string]*Holders{}
	for name, c := range clusters {
		for _, n := range c.Nodes {
			c.Start(n.Name)
		}
		samplers[name] = SampleHolders([]*Host{c.Nodes[0].Host, c.Nodes[1].Host}, arbVIPs[name], 10*time.Millisecond)
	}
	for name, c := range clusters {
		c.WaitHealthy(60 * time.Second)
		c.SettleOn("vip", c.Nodes[0].Name, 60*time.Second) // the first node to join may have taken it
		waitVIPOn(c, arbVIPs[name], c.Nodes[0].Name, 30*time.Second)
	}
	a, b := clusters["a"], clusters["b"]

	t.Run("PowerOffFailsOverOnTheArbitratorsVote", func(t *testing.T) {
		cut := powerCutCommand(l, "a1")
		if out, err := run(cut...); err != nil {
			t.Fatalf("power cut: %v\n%s", err, out)
		}
		waitVIPOn(a, arbVIPs["a"], "a2", 30*time.Second)
		st := mustStatus(t, a, "a2")
		if !slices.Equal(st.Voters, []string{"a2"}) {
			t.Errorf("a2's voters %v, want a2 alone", st.Voters)
		}
		if !hasWarning(st, "arbitrator gave") {
			t.Errorf("a2's status does not say it runs alone on the arbitrator's vote: %q", st.Warnings)
		}
		// Pair b did not notice.
		if h := vipHolders(b, arbVIPs["b"]); !slices.Equal(h, []string{"b1"}) {
			t.Errorf("pair b's VIP holders %v, want b1", h)
		}
	})

	t.Run("LinksCutTheHolderGetsTheVoteTheOtherRunsNothing", func(t *testing.T) {
		from := time.Now()
		l.Partition(Pub, b.Node("b1").Host, b.Node("b2").Host)
		l.Partition(HB, b.Node("b1").Host, b.Node("b2").Host)
		b.Eventually(30*time.Second, "b1 alone on the vote", func() error {
			st, err := b.LocalStatus(t.Context(), "b1")
			if err != nil {
				return err
			}
			if !slices.Equal(st.Voters, []string{"b1"}) || st.Leader != "b1" {
				return fmt.Errorf("voters %v leader %q", st.Voters, st.Leader)
			}
			return nil
		})
		waitVIPOn(b, arbVIPs["b"], "b1", 30*time.Second)
		b.Eventually(30*time.Second, "b2 refused", func() error {
			st, err := b.LocalStatus(t.Context(), "b2")
			if err != nil {
				return err
			}
			if !hasWarning(st, "refused the vote") {
				return fmt.Errorf("b2 warnings %q", st.Warnings)
			}
			if st.Quorum {
				return fmt.Errorf("b2 claims a quorum")
			}
			return nil
		})
		if b.Node("b2").Host.HasAddr(arbVIPs["b"]) {
			t.Error("b2 holds the VIP without the vote")
		}
		for _, s := range samplers["b"].Samples() {
			if !s.Time.Before(from) && len(s.Hosts) > 1 {
				t.Fatalf("pair b's VIP held by %v at %s", s.Hosts, s.Time.Format("15:04:05.000"))
			}
		}
		l.Heal()
		b.Eventually(30*time.Second, "b2 back as a voter", func() error {
			st, err := b.LocalStatus(t.Context(), "b1")
			if err != nil {
				return err
			}
			if len(st.Voters) != 2 {
				return fmt.Errorf("voters %v nonvoters %v", st.Voters, st.Nonvoters)
			}
			return nil
		})
		waitVIPOn(b, arbVIPs["b"], "b1", 10*time.Second)
	})

	t.Run("LossOfTheArbitratorDoesNotStopAHealthyPair", func(t *testing.T) {
		if err := arbProc.Stop(5 * time.Second); err != nil {
			t.Logf("stop arbitrator: %v", err)
		}
		// Pair b keeps its leader and the VIP across several report rounds
		// (once a second) that now fail.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if h := vipHolders(b, arbVIPs["b"]); !slices.Equal(h, []string{"b1"}) {
				t.Fatalf("without the arbitrator pair b's VIP holders are %v", h)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.WaitHealthy(10 * time.Second)
		if out, err := os.ReadFile(filepath.Join(arbDir, "state.json")); err != nil || !strings.Contains(string(out), `"owner": "a2"`) {
			t.Errorf("arbitrator state does not keep a2's vote: %v\n%s", err, out)
		}
	})

	for name, s := range samplers {
		if s.MaxHolders() > 1 {
			t.Errorf("pair %s's VIP was held twice", name)
		}
	}
}
