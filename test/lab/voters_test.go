package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// TestReplaceWitness replaces a failed witness by a fresh machine with the
// same name (empty data_dir) while n1 holds a VIP: the witness loses power,
// `vigil node remove w` drops it from the raft voters (the two load
// balancers are a majority of the remaining two), the new machine starts,
// `vigil node add w` makes it a voter again and it catches up. The VIP is
// sampled throughout: never two holders, and n1 keeps it all along.
func TestReplaceWitness(t *testing.T) {
	l := New(t, "vlabv")
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
	// n1 leads and holds the VIP, so that removing n2 below is refused
	// for want of a majority alone.
	if leader != "n1" {
		if out, err := c.CLI("n1", "leader", "transfer", "n1"); err != nil {
			t.Fatalf("leader transfer: %v %s", err, out)
		}
		leader = c.WaitNewLeader(leader, settle)
		if leader != "n1" {
			t.Fatalf("leader is %s after a transfer to n1", leader)
		}
	}
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
	const follower = "n2"

	c.PowerOff("w")
	c.Eventually(settle, "w seen offline by the leader", func() error {
		ns, _ := NodeOf(mustStatus(t, c, leader), "w")
		if ns.ClusterLink == "ok" {
			return fmt.Errorf("w cluster link %s state %s", ns.ClusterLink, ns.State)
		}
		return nil
	})
	// With w gone, removing the other balancer would leave {leader, w}
	// with only the leader answering: refused, and nothing changes.
	if out, err := c.CLI(leader, "node", "remove", follower); err == nil || !strings.Contains(err.Error(), "majority") {
		t.Fatalf("removing %s while w is down: %v %s; want a refusal naming the majority", follower, err, out)
	}
	// n1 holds the VIP: it is not removed before it is in standby.
	if out, err := c.CLI(follower, "node", "remove", "n1"); err == nil || !strings.Contains(err.Error(), "node standby n1") {
		t.Fatalf("removing n1, which holds the VIP: %v %s; want a refusal", err, out)
	}
	out, err := c.CLI(follower, "node", "remove", "w") // forwarded to the leader
	if err != nil {
		t.Fatalf("node remove w: %v %s", err, out)
	}
	if !strings.Contains(out, "raft voters: n1, n2") {
		t.Fatalf("node remove w: %s", out)
	}
	c.Eventually(settle, "status names the disagreement", func() error {
		return warningIn(mustStatus(t, c, leader).Warnings, "configured but not raft voters: w")
	})
	// config validate asks the local agent for raft's voters and warns too.
	if out, err := c.local("config", "validate", c.Node(leader).Config); err != nil || !strings.Contains(out, "configured but not raft voters: w") {
		t.Errorf("config validate after node remove w: %v\n%s", err, out)
	}
	// The new machine: same name and addresses, empty data_dir.
	w := c.Node("w")
	if err := os.RemoveAll(w.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(w.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.PowerOn("w")
	out, err = c.CLI(leader, "node", "add", "w", "-address", hostPort(w.Host.IP(Pub), ClusterPort),
		"-heartbeat", hostPort(w.Host.IP(HB), HeartbeatPort))
	if err != nil {
		t.Fatalf("node add w: %v %s", err, out)
	}
	if !strings.Contains(out, "raft voters: n1, n2, w") {
		t.Fatalf("node add w: %s", out)
	}
	c.WaitHealthy(settle)
	c.Eventually(settle, "w a voter with the cluster's state, no warning", func() error {
		st, err := c.LocalStatus(t.Context(), "w")
		if err != nil {
			return err
		}
		if st.Leader == "" || !st.Quorum {
			return fmt.Errorf("w: leader %q quorum %v", st.Leader, st.Quorum)
		}
		if len(st.Groups) == 0 || st.Groups[0].Node != "n1" {
			return fmt.Errorf("w's replicated state: %+v", st.Groups)
		}
		out, err := c.CLI("n1", "members", "-json")
		if err != nil {
			return err
		}
		var ms []api.Member
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			return err
		}
		for _, m := range ms {
			if m.Name == "w" && !m.Voter {
				return fmt.Errorf("w is not a voter: %+v", m)
			}
		}
		for _, w := range mustStatus(t, c, "n1").Warnings {
			if strings.Contains(w, "raft membership") {
				return fmt.Errorf("still warned: %s", w)
			}
		}
		return nil
	})
	holders.Stop()
	for _, s := range holders.Samples() {
		if len(s.Hosts) != 1 || s.Hosts[0] != "n1" {
			t.Fatalf("VIP held by %v at %s, want [n1] throughout", s.Hosts, s.Time.Format("15:04:05.000"))
		}
	}
}
