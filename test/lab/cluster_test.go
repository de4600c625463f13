package lab

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// TestCluster runs real `vigil agent` processes: n1, n2 and the witness w on
// the pub (cluster link) and hb (heartbeat link) bridges, timing preset fast.
// The subtests share one cluster and run in order; each leaves it healthy.
func TestCluster(t *testing.T) {
	l := New(t, "vlabc")
	c := StartCluster(l, ClusterSpec{Preset: "fast"})
	const settle = 30 * time.Second

	t.Run("ElectsLeaderAllOnline", func(t *testing.T) {
		leader := c.WaitHealthy(settle)
		for _, n := range c.Nodes {
			st := mustStatus(t, c, n.Name)
			if st.Leader != leader || !st.Quorum || st.Cluster != "lab" || !strings.HasPrefix(st.Node, n.Name) {
				t.Errorf("%s: leader %q quorum %v cluster %q node %q; want leader %s with quorum",
					n.Name, st.Leader, st.Quorum, st.Cluster, st.Node, leader)
			}
			if err := Healthy(st, c.names()); err != nil {
				t.Error(err)
			}
			if w, _ := NodeOf(st, "w"); w.Role != "witness" {
				t.Errorf("%s sees w with role %q, want witness", n.Name, w.Role)
			}
			if ld, _ := NodeOf(st, leader); !ld.Leader {
				t.Errorf("%s does not flag %s as leader in nodes[]", n.Name, leader)
			}
		}
	})

	t.Run("HeartbeatLinkLossIsOnlyAWarning", func(t *testing.T) {
		leader := c.WaitHealthy(settle)
		victim := "n2"
		if leader == "n2" {
			victim = "n1"
		}
		term := mustStatus(t, c, leader).Term
		l.LinkDown(c.Node(victim).Host, HB)
		warned := false
		// Watch long enough for memberlist to declare the member dead
		// several times over: the node must stay online throughout.
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) {
			st := mustStatus(t, c, leader)
			ns, _ := NodeOf(st, victim)
			if ns.State != "online" || ns.ClusterLink != "ok" {
				t.Fatalf("heartbeat link of %s down: state %q cluster_link %q; want online/ok (only a warning)", victim, ns.State, ns.ClusterLink)
			}
			if st.Leader != leader || st.Term != term {
				t.Fatalf("heartbeat link of %s down: leader %s term %d -> leader %s term %d; no election expected", victim, leader, term, st.Leader, st.Term)
			}
			if ns.Heartbeat != "ok" && mentions(st, ns, victim) {
				warned = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !warned {
			st := mustStatus(t, c, leader)
			t.Errorf("no heartbeat warning for %s in %s's status: %+v", victim, leader, st)
		}
		l.LinkUp(c.Node(victim).Host, HB)
		c.Eventually(settle, "heartbeat warning for "+victim+" cleared", func() error {
			st, err := c.Status(leader)
			if err != nil {
				return err
			}
			ns, _ := NodeOf(st, victim)
			if ns.Heartbeat != "ok" || len(ns.Warnings) > 0 {
				return fmt.Errorf("%s: heartbeat %q warnings %q", victim, ns.Heartbeat, ns.Warnings)
			}
			return nil
		})
	})

	t.Run("RestartedNodeRejoins", func(t *testing.T) {
		c.WaitHealthy(settle)
		c.Stop("n2")
		// The survivors must notice first, or "healthy" below could be
		// the stale view from before the restart.
		c.Eventually(settle, "n1 sees n2 gone", func() error {
			st, err := c.Status("n1")
			if err != nil {
				return err
			}
			if n2, _ := NodeOf(st, "n2"); n2.State == "online" && n2.Heartbeat == "ok" {
				return fmt.Errorf("n1 still sees n2 online, heartbeat ok")
			}
			return nil
		})
		c.Start("n2")
		c.WaitHealthy(settle)
		st := mustStatus(t, c, "n2")
		if !st.Quorum || st.Leader == "" {
			t.Errorf("restarted n2: quorum %v leader %q", st.Quorum, st.Leader)
		}
	})

	t.Run("StandbySurvivesFailoverAndFullRestart", func(t *testing.T) {
		c.WaitHealthy(settle)
		if out, err := c.CLI("n1", "node", "standby", "n1"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		wantStandby := func(from ...string) {
			t.Helper()
			c.Eventually(settle, "n1 standby on "+strings.Join(from, ","), func() error {
				for _, name := range from {
					st, err := c.Status(name)
					if err != nil {
						return err
					}
					if n1, _ := NodeOf(st, "n1"); !n1.Standby {
						return fmt.Errorf("%s sees n1 standby=%v state %q", name, n1.Standby, n1.State)
					}
				}
				return nil
			})
		}
		wantStandby(c.Up()...)
		if st := mustStatus(t, c, "n2"); mustNode(t, st, "n1").State != "standby" {
			t.Errorf("n1 state %q, want standby", mustNode(t, st, "n1").State)
		}

		old := c.WaitLeader(settle)
		c.PowerOff(old)
		c.WaitNewLeader(old, settle)
		wantStandby(c.Up()...)
		c.PowerOn(old)
		c.WaitHealthy(settle)

		for _, n := range c.Nodes {
			c.Stop(n.Name)
		}
		for _, n := range c.Nodes {
			c.Start(n.Name)
		}
		c.WaitHealthy(settle)
		wantStandby(c.Up()...)

		if out, err := c.CLI("n2", "node", "online", "n1"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		c.Eventually(settle, "n1 online again", func() error {
			st, err := c.Status("n1")
			if err != nil {
				return err
			}
			if n1, _ := NodeOf(st, "n1"); n1.Standby || n1.State != "online" {
				return fmt.Errorf("n1 standby=%v state %q", n1.Standby, n1.State)
			}
			return nil
		})
	})

	t.Run("LeaderPowerOffElectsNewLeader", func(t *testing.T) {
		old := c.WaitHealthy(settle)
		c.PowerOff(old)
		leader := c.WaitNewLeader(old, settle)
		c.Eventually(settle, "survivors see "+old+" down", func() error {
			for _, name := range c.Up() {
				st, err := c.Status(name)
				if err != nil {
					return err
				}
				ns, _ := NodeOf(st, old)
				if !slices.Contains([]string{"offline", "failed", "fenced"}, ns.State) {
					return fmt.Errorf("%s sees powered-off %s as %q", name, old, ns.State)
				}
				if st.Leader != leader || !st.Quorum {
					return fmt.Errorf("%s: leader %q quorum %v", name, st.Leader, st.Quorum)
				}
			}
			return nil
		})
		c.PowerOn(old)
		c.WaitHealthy(settle)
	})
}

// mentions reports whether the status carries a warning about node, in the
// node's entry or cluster-wide.
func mentions(st api.Status, ns api.NodeStatus, node string) bool {
	if len(ns.Warnings) > 0 {
		return true
	}
	for _, w := range st.Warnings {
		if strings.Contains(w, node) {
			return true
		}
	}
	return false
}

func mustStatus(t *testing.T, c *Cluster, node string) api.Status {
	t.Helper()
	st, err := c.Status(node)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustNode(t *testing.T, st api.Status, name string) api.NodeStatus {
	t.Helper()
	ns, ok := NodeOf(st, name)
	if !ok {
		t.Fatalf("%s's status has no node %s", st.Node, name)
	}
	return ns
}
