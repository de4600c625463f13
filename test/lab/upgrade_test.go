package lab

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// upgradeFrom is the last version that landed on main (its CI passed)
// before the changes of this tree: the version users upgrade from.
const upgradeFrom = "345a6c2"

// TestRollingUpgrade upgrades a running cluster from upgradeFrom to this
// tree the documented way (docs/operations.md, "Rolling upgrades"): one node
// at a time, the witness, then the standby, then the holder (its clean stop
// hands the group over), the leader last after a transfer to an upgraded
// node. Each step waits for a healthy cluster. Throughout, the VIP is never
// held twice (sampled every 5 ms), and nothing is fenced, released by lease
// or reported as a violation; at the end every member runs the new version
// and the group runs on one node.
func TestRollingUpgrade(t *testing.T) {
	old := BuildAt(t, upgradeFrom)
	l := New(t, "vlabru")
	c := prepareCluster(l, ClusterSpec{Preset: "fast", Extra: LifecycleGroupHCL(l.dir, HelloBin(t))}, Vigil(t))
	for _, n := range c.Nodes {
		n.Bin = old
		c.Start(n.Name)
	}
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	c.SettleOn(LifecycleGroup, "n1", settle)
	c.WaitVIPOn(LifecycleVIP, "n1", settle)
	wantVersions(t, c, upgradeFrom)

	holders := SampleHolders(c.hosts(), LifecycleVIP, 5*time.Millisecond)
	start := time.Now()

	leader := c.WaitHealthy(settle)
	holder := vipHolder(t, c)
	var order, upgraded []string
	for _, n := range []string{"w", Other(holder), holder} {
		if n != leader {
			order = append(order, n)
		}
	}
	for _, n := range append(order, leader) {
		if cur := c.WaitHealthy(settle); cur == n && len(upgraded) > 0 {
			if out, err := c.CLI(n, "leader", "transfer", upgraded[0]); err != nil {
				t.Fatalf("leader transfer %s -> %s: %v\n%s", n, upgraded[0], err, out)
			}
		}
		c.Stop(n)
		c.Node(n).Bin = "" // this tree's
		c.Start(n)
		c.WaitHealthy(settle)
		upgraded = append(upgraded, n)
		t.Logf("upgraded %s; VIP on %v", n, c.VIPHoldersOf(LifecycleVIP))
	}
	leader = c.WaitHealthy(settle)
	wantVersions(t, c, "0.1.0-dev")
	on := waitGroupStarted(t, c, LifecycleGroup, "", settle)
	c.WaitVIPOn(LifecycleVIP, on, settle)
	time.Sleep(time.Second)
	holders.Stop()

	if s, ok := holders.FirstOverlap(); ok {
		t.Errorf("two VIP holders at %s: %v", s.Time.Format("15:04:05.000"), s.Hosts)
	}
	_, gap := holders.Absent(start, time.Time{})
	t.Logf("the VIP was missing for %v in all over the upgrade (the holder's clean stop hands the group over)", gap)
	for _, e := range history(t, c, leader) {
		if e.Time.After(start) && (e.Kind == "fence" || e.Kind == "group-released" || e.Kind == "violation" || e.Kind == "resource-failed") {
			t.Errorf("history during the rolling upgrade: %s %s", e.Kind, e.Message)
		}
	}
}

// wantVersions checks that every member gossips version.
func wantVersions(t *testing.T, c *Cluster, version string) {
	t.Helper()
	c.Eventually(30*time.Second, "every member on "+version, func() error {
		out, err := c.CLI("n1", "members", "-json")
		if err != nil {
			return err
		}
		var ms []api.Member
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			return fmt.Errorf("members -json: %w: %q", err, out)
		}
		if len(ms) != len(c.Nodes) {
			return fmt.Errorf("%d members", len(ms))
		}
		for _, m := range ms {
			if m.Meta["version"] != version {
				return fmt.Errorf("%s runs %q (meta %v)", m.Name, m.Meta["version"], m.Meta)
			}
		}
		return nil
	})
}
