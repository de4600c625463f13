package lab

import (
	"fmt"
	"testing"
	"time"
)

// TestOneWayCutOfTheHolder: without fencing, the holder (a follower) loses
// the outgoing direction of its cluster link. It still hears the leader, but
// the leader and the witness no longer hear it, so the leader releases the
// group once the holder's lease has provably run out and starts it on the
// other node. Hearing the leader is not a lease: the holder must have dropped
// the VIP by then. An address sampler on both load balancers every 5 ms must
// never see the VIP on both.
func TestOneWayCutOfTheHolder(t *testing.T) {
	l := New(t, "vlabow")
	c := StartCluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: FenceGroupHCL(l.Dir())})
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	c.SettleOn(FenceGroup, "n1", settle)
	waitVIPOnly(t, c, "n1", settle)
	// The holder must be a follower: a leader that stops hearing the
	// quorum steps down by raft's own leader lease.
	c.Eventually(settle, "n1 not the leader", func() error {
		st, err := c.Status("w")
		if err != nil {
			return err
		}
		if st.Leader == "n1" || st.Leader == "" {
			_, err := c.CLI("n1", "leader", "transfer", "w")
			return fmt.Errorf("leader %q (transfer: %v)", st.Leader, err)
		}
		return nil
	})
	n1, n2, w := c.Node("n1").Host, c.Node("n2").Host, c.Node("w").Host
	holders := SampleHolders([]*Host{n1, n2}, FenceVIP, 5*time.Millisecond)
	cut := time.Now()
	l.PartitionOneWay(Pub, n1, n2)
	l.PartitionOneWay(Pub, n1, w)
	waitVIPOnly(t, c, "n2", settle)
	moved := time.Since(cut)
	time.Sleep(time.Second) // samples after the move, too
	holders.Stop()
	for _, s := range holders.Samples() {
		if len(s.Hosts) > 1 {
			t.Errorf("VIP held by %v at %s (%s after the cut)", s.Hosts, s.Time.Format("15:04:05.000"), s.Time.Sub(cut).Round(time.Millisecond))
		}
	}
	t.Logf("VIP on n2 only %s after the one-way cut (%d address samples)", moved.Round(time.Millisecond), len(holders.Samples()))

	// Healed, n1 is eligible again and the group stays on n2 (failback = false).
	l.Heal()
	c.Eventually(settle, "both load balancers eligible", func() error { return bothEligible(c) })
	if h := c.VIPHoldersOf(FenceVIP); len(h) != 1 || h[0] != "n2" {
		t.Errorf("after healing the VIP is on %v, want n2 only", h)
	}
}
