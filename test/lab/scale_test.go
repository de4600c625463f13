package lab

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestManyAddressesMoveTogetherAndStayGuarded: a group of 16 addresses
// (they start and stop together, in batches) moves on standby with every
// address, never held by both nodes at once, and a kill -9 of the agent
// holding it leaves none behind: the crash guard held every one of them.
func TestManyAddressesMoveTogetherAndStayGuarded(t *testing.T) {
	const n = 16
	l := New(t, "vlabmany")
	c := StartCluster(l, ClusterSpec{Preset: "fast", Extra: manyAddressesHCL(n)})
	const settle = 60 * time.Second
	c.WaitHealthy(settle)
	var addrs []string
	a := netip.MustParseAddr(scaleFirst)
	for range n {
		addrs = append(addrs, a.String())
		a = a.Next()
	}
	hosts := []*Host{c.Node("n1").Host, c.Node("n2").Host}
	// The first and the last address of the run, sampled for overlap.
	samplers := []*Holders{SampleHolders(hosts, addrs[0], 5*time.Millisecond),
		SampleHolders(hosts, addrs[n-1], 5*time.Millisecond)}
	holdsAll := func(node string, want bool) func() error {
		return func() error {
			h := c.Node(node).Host
			for _, ip := range addrs {
				if h.HasAddr(ip) != want {
					return fmt.Errorf("%s has %s: %v, want %v", node, ip, !want, want)
				}
			}
			return nil
		}
	}
	// A new cluster may place it on n2 first (SettleOn).
	c.SettleOn("many", "n1", settle)
	waitGroupStarted(t, c, "many", "n1", settle)
	c.Eventually(5*time.Second, "all addresses on n1", holdsAll("n1", true))

	foCLI(t, c, "n2", "node", "standby", "n1")
	waitGroupStarted(t, c, "many", "n2", settle)
	c.Eventually(5*time.Second, "all addresses on n2", holdsAll("n2", true))
	c.Eventually(5*time.Second, "no address left on n1", holdsAll("n1", false))
	foCLI(t, c, "n2", "node", "online", "n1")
	c.WaitHealthy(settle)

	if err := c.Agent("n2").Kill(); err != nil {
		t.Fatal(err)
	}
	// The guard sweeps as soon as the agent's connection closes.
	c.Eventually(3*time.Second, "the crash guard removed every address from n2", holdsAll("n2", false))
	waitGroupStarted(t, c, "many", "n1", settle)
	c.Eventually(5*time.Second, "all addresses on n1", holdsAll("n1", true))
	for i, s := range samplers {
		for _, x := range s.Samples() {
			if len(x.Hosts) > 1 {
				t.Errorf("%s held by %v at %s", addrs[i*(n-1)], x.Hosts, x.Time.Format("15:04:05.000"))
			}
		}
	}
}
