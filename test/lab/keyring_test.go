package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/keyring"
	"github.com/vigil-ha/vigil/configs"
)

// KeyringVIP is the address of the keyring test's group.
const KeyringVIP = "198.18.0.120"

// TestKeyringRotation rotates the gossip key of a running cluster with
// `vigil keyring install|use|remove` while n1 holds a VIP: no node may ever
// be seen suspect or dead, memberlist may never fail to decrypt a packet,
// the leader's term and the VIP's holder must not change. A restarted agent
// then comes back on the new key alone (data_dir/keyring.json), although its
// gossip_key_file still names the old one.
func TestKeyringRotation(t *testing.T) {
	l := New(t, "vlabk")
	c := StartCluster(l, ClusterSpec{Preset: "fast", Extra: fmt.Sprintf(`group "vip" {
  prefer = "n1"
  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }
}
`, KeyringVIP)})
	const settle = 30 * time.Second
	leader := c.WaitHealthy(settle)
	c.SettleOn("vip", "n1", settle) // the first node to join may have taken it
	c.Eventually(settle, "VIP on n1", func() error {
		if !c.Node("n1").Host.HasAddr(KeyringVIP) {
			return fmt.Errorf("n1 does not hold %s", KeyringVIP)
		}
		return nil
	})
	var hosts []*Host
	for _, n := range c.Nodes {
		hosts = append(hosts, n.Host)
	}
	holders := SampleHolders(hosts, KeyringVIP, 10*time.Millisecond)
	term := mustStatus(t, c, leader).Term
	logStart := map[string]int64{}
	for _, n := range c.Nodes {
		logStart[n.Name] = fileSize(t, c.Agent(n.Name).Log)
	}

	oldKey, newKey := c.keyFile(), filepath.Join(l.Dir(), "gossip.new")
	if out, err := c.local("keygen", "-out", newKey); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	oldFP, newFP := fingerprint(t, oldKey), fingerprint(t, newKey)

	// Each step from a different node: any node's socket drives the cluster.
	steps := []struct{ node, op, file string }{
		{"n2", "install", newKey}, {"w", "use", newKey}, {"n1", "remove", oldKey},
	}
	for _, s := range steps {
		out, err := c.CLI(s.node, "keyring", s.op, s.file)
		if err != nil {
			t.Fatalf("keyring %s: %v", s.op, err)
		}
		t.Logf("keyring %s from %s:\n%s", s.op, s.node, out)
		if strings.Contains(out, "ERROR") {
			t.Fatalf("keyring %s: a node failed:\n%s", s.op, out)
		}
	}
	out, err := c.CLI("n1", "keyring", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		want := fmt.Sprintf("%-16s %s (in use)", n.Name, newFP)
		if !strings.Contains(out, want+"\n") {
			t.Errorf("keyring list: want %q (new key alone, in use), got:\n%s", want, out)
		}
	}
	if strings.Contains(out, oldFP) {
		t.Errorf("old key %s still listed after remove:\n%s", oldFP, out)
	}
	// Observe several probe rounds on the new key alone (fast preset:
	// a probe every 200-500 ms), then read what every agent logged.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if st := mustStatus(t, c, leader); st.Leader != leader || st.Term != term {
			t.Fatalf("leader %s term %d became %s term %d during the rotation", leader, term, st.Leader, st.Term)
		}
	}
	for _, n := range c.Nodes {
		for _, line := range logSince(t, c.Agent(n.Name).Log, logStart[n.Name]) {
			low := strings.ToLower(line)
			if strings.Contains(low, "member state changed") || strings.Contains(low, "decrypt") {
				t.Errorf("%s during the rotation: %s", n.Name, line)
			}
		}
	}
	for _, s := range holders.Samples() {
		if len(s.Hosts) != 1 || s.Hosts[0] != "n1" {
			t.Fatalf("VIP held by %v at %s during the rotation, want [n1] throughout", s.Hosts, s.Time.Format("15:04:05.000"))
		}
	}

	// A restart keeps the rotated ring: w's gossip_key_file still names the
	// removed key, which no other node accepts any more.
	st, err := os.Stat(filepath.Join(c.Node("w").DataDir, keyring.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keyring.json mode %04o, want 0600", st.Mode().Perm())
	}
	c.Restart("w")
	c.WaitHealthy(settle)
	c.Eventually(settle, "w alive in n1's member list", func() error {
		out, err := c.CLI("n1", "members")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == "w" && f[2] == "alive" {
				return nil
			}
		}
		return fmt.Errorf("members:\n%s", out)
	})
	if out, err := c.CLI("w", "keyring", "list"); err != nil || !strings.Contains(out, fmt.Sprintf("%-16s %s (in use)\n", "w", newFP)) {
		t.Errorf("after restart w lists %q (%v), want the new key in use", out, err)
	}
	if n := holders.MaxHolders(); n > 1 {
		t.Errorf("%d holders of the VIP at once", n)
	}
}

func fingerprint(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := configs.DecodeGossipKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return keyring.Fingerprint(k)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// logSince returns the lines of path written after offset.
func logSince(t *testing.T, path string, offset int64) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) < offset {
		offset = 0
	}
	return strings.Split(strings.TrimSpace(string(b[offset:])), "\n")
}
