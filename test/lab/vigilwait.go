package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// Eventually polls cond every 50 ms until it returns nil, and fails the test
// with cond's last error after timeout.
func (c *Cluster) Eventually(timeout time.Duration, what string, cond func() error) {
	c.Lab.tb.Helper()
	if err := poll(timeout, 50*time.Millisecond, cond); err != nil {
		c.Lab.tb.Fatalf("lab: %s: not true after %v: %v", what, timeout, err)
	}
}

func poll(timeout, every time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(every)
	}
}

// WaitLeader waits until every running agent's own view (status -stale)
// names the same leader, one of the running agents, and returns its name.
func (c *Cluster) WaitLeader(timeout time.Duration) string {
	c.Lab.tb.Helper()
	var leader string
	c.Eventually(timeout, "a leader all running agents agree on", func() error {
		l, err := c.agreedLeader()
		leader = l
		return err
	})
	return leader
}

// LeadOn makes node the raft leader (`vigil leader transfer`, retried: a
// node just restarted may refuse until it has caught up) and waits until
// every running agent agrees.
func (c *Cluster) LeadOn(node string, timeout time.Duration) {
	c.Lab.tb.Helper()
	c.Eventually(timeout, node+" leading", func() error {
		if leader := c.WaitLeader(timeout); leader != node {
			out, err := c.CLI(leader, "leader", "transfer", node)
			if err != nil {
				return fmt.Errorf("leader transfer to %s: %v %s", node, err, out)
			}
			return fmt.Errorf("leader %s", leader)
		}
		return nil
	})
}

// WaitNewLeader waits for an agreed leader other than old.
func (c *Cluster) WaitNewLeader(old string, timeout time.Duration) string {
	c.Lab.tb.Helper()
	var leader string
	c.Eventually(timeout, "a new leader (not "+old+")", func() error {
		l, err := c.agreedLeader()
		if err == nil && l == old {
			err = fmt.Errorf("leader is still %s", old)
		}
		leader = l
		return err
	})
	return leader
}

func (c *Cluster) agreedLeader() (string, error) {
	up := c.Up()
	if len(up) == 0 {
		return "", errors.New("no agent is running")
	}
	leader := ""
	for _, name := range up {
		st, err := c.LocalStatus(context.Background(), name)
		if err != nil {
			return "", err
		}
		if st.Leader == "" {
			return "", fmt.Errorf("%s knows no leader (term %d)", name, st.Term)
		}
		if leader != "" && st.Leader != leader {
			return "", fmt.Errorf("%s says the leader is %s, others %s", name, st.Leader, leader)
		}
		leader = st.Leader
	}
	if !slices.Contains(up, leader) {
		return "", fmt.Errorf("the agreed leader %s is not running", leader)
	}
	return leader, nil
}

// WaitHealthy waits until a leader is agreed and the leader's status shows
// quorum and every node present (online, or standby when flagged), with its
// heartbeat and cluster link ok. It returns the leader.
func (c *Cluster) WaitHealthy(timeout time.Duration) string {
	c.Lab.tb.Helper()
	var leader string
	c.Eventually(timeout, "a healthy cluster", func() error {
		l, err := c.agreedLeader()
		if err != nil {
			return err
		}
		leader = l
		st, err := c.Status(l)
		if err != nil {
			return err
		}
		return Healthy(st, c.names())
	})
	return leader
}

func (c *Cluster) names() []string {
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	return names
}

// Healthy checks that st shows quorum and each named node present and
// fully connected.
func Healthy(st api.Status, nodes []string) error {
	if !st.Quorum {
		return fmt.Errorf("%s reports no quorum", st.Node)
	}
	for _, name := range nodes {
		ns, ok := NodeOf(st, name)
		switch {
		case !ok:
			return fmt.Errorf("%s's status lists no node %s", st.Node, name)
		case ns.State != "online" && !(ns.Standby && ns.State == "standby"):
			return fmt.Errorf("%s sees %s %s", st.Node, name, ns.State)
		case ns.Heartbeat != "ok" || ns.ClusterLink != "ok":
			return fmt.Errorf("%s sees %s heartbeat %q cluster_link %q", st.Node, name, ns.Heartbeat, ns.ClusterLink)
		}
	}
	return nil
}

// NodeOf finds node name in a status.
func NodeOf(st api.Status, name string) (api.NodeStatus, bool) {
	for _, n := range st.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return api.NodeStatus{}, false
}

// SettleOn makes node the group's holder at the start of a test. With
// `prefer` and no failback, a new cluster places the group on whichever
// eligible node answered the first leader first (groups go only to nodes
// that joined), which on a busy machine is not always the preferred one:
// a scenario that needs it there moves it with the operator's move and
// clears the pin again, as an operator would.
func (c *Cluster) SettleOn(group, node string, timeout time.Duration) {
	c.Lab.tb.Helper()
	moved := false
	c.Eventually(timeout, group+" started on "+node, func() error {
		st, err := c.Status(node)
		if err != nil {
			return err
		}
		g, _ := GroupOf(st, group)
		switch {
		case g.State == "started" && g.Node == node:
			return nil
		case g.State == "started" && !moved:
			if _, err := c.CLI(node, "resource", "move", group, node); err != nil {
				return err
			}
			moved = true
		}
		return fmt.Errorf("%s %s on %q", group, g.State, g.Node)
	})
	if moved {
		if _, err := c.CLI(node, "resource", "clear", group); err != nil {
			c.Lab.tb.Fatalf("lab: resource clear %s: %v", group, err)
		}
	}
}
