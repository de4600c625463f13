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

// TestUpgradeInMaintenance is the upgrade routine Pacemaker users run with
// maintenance-mode: `vigil maintenance on`, restart every agent in turn
// (each down for several leases, the leader last), then reboot the whole
// cluster's agents at once, then `vigil maintenance off`. Nothing may move,
// stop or restart: the VIP stays on its holder alone throughout (sampled
// every 5 ms), the web server keeps its pid, and the history shows no
// assignment, release or fence. When maintenance ends the holder takes the
// group back under management where it is.
func TestUpgradeInMaintenance(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabup"))
	const settle = 30 * time.Second
	holder := vipHolder(t, c)
	pidFile := filepath.Join(c.Lab.Dir(), holder, "web.pid")
	pid0, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.WaitHealthy(settle)
	if out, err := c.CLI(leader, "maintenance", "on"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	start := time.Now()
	holders := SampleHolders(c.hosts(), LifecycleVIP, 5*time.Millisecond)

	// One at a time, the leader last.
	order := []string{}
	for _, n := range []string{"n1", "n2", "w"} {
		if n != leader {
			order = append(order, n)
		}
	}
	for _, n := range append(order, leader) {
		c.Stop(n)
		time.Sleep(time.Second) // several leases at the fast preset
		c.Start(n)
		c.WaitHealthy(settle)
	}
	// The whole cluster at once.
	for _, n := range []string{"n1", "n2", "w"} {
		c.Stop(n)
	}
	time.Sleep(time.Second)
	for _, n := range []string{"n1", "n2", "w"} {
		c.Start(n)
	}
	leader = c.WaitHealthy(settle)
	if out, err := c.CLI(leader, "maintenance", "off"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c.Eventually(settle, "the holder manages the group again", func() error {
		st, err := c.Status(leader)
		if err != nil {
			return err
		}
		for _, g := range st.Groups {
			if g.Name == LifecycleGroup && (g.Node != holder || g.State != "started" || g.Unmanaged) {
				return fmt.Errorf("group %s: node %q state %q unmanaged %v reason %q", g.Name, g.Node, g.State, g.Unmanaged, g.Reason)
			}
		}
		return nil
	})
	time.Sleep(time.Second)
	vipStayed(t, c, holders, start, leader, "the upgrade in maintenance", "assign", "group-released", "fence",
		"group-stopped", "resource-failed")
	if h := c.VIPHoldersOf(LifecycleVIP); len(h) != 1 || h[0] != holder {
		t.Errorf("VIP holders %v after maintenance, want [%s]", h, holder)
	}
	if pid, err := os.ReadFile(pidFile); err != nil || string(pid) != string(pid0) {
		t.Errorf("the web server was restarted (pid %q, was %q; %v)", pid, pid0, err)
	}
}

// hosts are the cluster's hosts, for SampleHolders.
func (c *Cluster) hosts() []*Host {
	var hs []*Host
	for _, n := range c.Nodes {
		hs = append(hs, n.Host)
	}
	return hs
}

// vipStayed stops hs and checks that the VIP was neither held twice nor
// missing since from, and that the leader's history since then has no event
// of the given kinds.
func vipStayed(t *testing.T, c *Cluster, hs *Holders, from time.Time, leader, during string, kinds ...string) {
	t.Helper()
	hs.Stop()
	if s, ok := hs.FirstOverlap(); ok {
		t.Errorf("two VIP holders at %s: %v", s.Time.Format("15:04:05.000"), s.Hosts)
	}
	if missing, gap := hs.Absent(from, time.Time{}); missing {
		t.Errorf("the VIP was missing for %v during %s", gap, during)
	}
	for _, e := range history(t, c, leader) {
		if e.Time.After(from) && slices.Contains(kinds, e.Kind) {
			t.Errorf("history during %s: %s %s", during, e.Kind, e.Message)
		}
	}
}

// TestHolderLostInMaintenance: the holder loses its power during maintenance
// on a cluster without fencing. Its group is neither released nor moved,
// in maintenance or after it (the holder never learnt that maintenance
// ended, as far as the leader can tell), and status says what it waits
// for. `vigil fence -confirm` is refused for a node that shows life, and
// for the lost one it records the fence: the group then starts on the
// other node. Powered on again, the old holder rejoins without it.
func TestHolderLostInMaintenance(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabhl"))
	maintenance := func(on bool, other string) {
		t.Helper()
		arg := "off"
		if on {
			arg = "on"
		}
		if out, err := c.CLI(other, "maintenance", arg); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	holderLostInMaintenance(t, c, maintenance)
}

// TestHolderLostInConfiguredMaintenance: the same with the group in
// maintenance by its configuration (`maintenance = true`, reloaded on every
// node), which is no replicated state: the leader marks the group unmanaged
// when it loses the holder, and the group waits for it after the key is
// removed just the same.
func TestHolderLostInConfiguredMaintenance(t *testing.T) {
	c := StartLifecycleCluster(New(t, "vlabhc"))
	const key = "\n  maintenance = true\n"
	maintenance := func(on bool, other string) {
		t.Helper()
		running := []string{other, "w"} // when it goes off, the holder is powered off
		if on {
			running = append(running, Other(other))
		}
		c.RewriteConfigs(t, func(_, cfg string) string {
			cfg = strings.Replace(cfg, key, "\n", 1)
			if on {
				cfg = strings.Replace(cfg, "failback = false\n", "failback = false"+key, 1)
			}
			return cfg
		}, running...)
	}
	holderLostInMaintenance(t, c, maintenance)
}

// holderLostInMaintenance runs both: maintenance(on, other) turns
// maintenance on or off while other, the node that does not hold the group,
// runs.
func holderLostInMaintenance(t *testing.T, c *Cluster, maintenance func(on bool, other string)) {
	const settle = 30 * time.Second
	holder := vipHolder(t, c)
	other := Other(holder)
	maintenance(true, other)
	c.PowerOff(holder)
	time.Sleep(1500 * time.Millisecond) // five leases at the fast preset
	maintenance(false, other)
	time.Sleep(1500 * time.Millisecond)
	st, err := c.Status(other)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := GroupOf(st, LifecycleGroup)
	if !g.Unmanaged || !strings.Contains(g.Reason, "has not reported since maintenance ended") {
		t.Errorf("group after maintenance with its holder lost: %+v; want unmanaged, waiting for %s", g, holder)
	}
	if h := c.VIPHoldersOf(LifecycleVIP); len(h) != 0 {
		t.Errorf("VIP holders %v: the group started elsewhere without evidence that %s stopped", h, holder)
	}
	live := "w" // a running node other than the leader (which never fences itself)
	if st.Leader == live {
		live = other
	}
	if out, err := c.CLI(other, "fence", "-confirm", "-yes", live); err == nil || !strings.Contains(out+err.Error(), "not powered off") {
		t.Errorf("fence -confirm of %s, which runs: %v\n%s", live, err, out)
	}
	if out, err := c.CLI(other, "fence", "-confirm", "-yes", holder); err != nil {
		t.Fatalf("fence -confirm %s: %v\n%s", holder, err, out)
	}
	c.WaitVIPOn(LifecycleVIP, other, settle)
	c.PowerOn(holder)
	c.WaitHealthy(settle)
	if h := c.VIPHoldersOf(LifecycleVIP); len(h) != 1 || h[0] != other {
		t.Errorf("VIP holders %v after %s came back, want [%s]", h, holder, other)
	}
}
