package lab

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

// TestEC2TwoNode is TestEC2Failover's power-off for a two_node pair without
// the witness: the survivor stops the lost node's instance through the EC2
// API (fence race delay included), continues as the only voter, and only
// then moves the Elastic IP, the secondary IP and the overlay route. The
// stopped instance, started again, rejoins as a voter without taking them.
func TestEC2TwoNode(t *testing.T) {
	l := New(t, "vlaws2")
	e := StartEC2Cluster(l, ClusterSpec{Preset: "fast", TwoNode: true,
		ClusterExtra: fmt.Sprintf("  priority_fence_delay = %q\n", pairPriorityDelay),
		Extra:        AWSGroupsHCL(awsGroups...)}, ec2sim.Knobs{
		Latency:        ec2sim.Duration(20 * time.Millisecond),
		StopDelay:      ec2sim.Duration(2 * time.Second),
		ForceStopDelay: ec2sim.Duration(300 * time.Millisecond),
		StartDelay:     ec2sim.Duration(time.Second),
	})
	e.WaitHealthy(60 * time.Second)
	for _, g := range awsGroups {
		e.SettleOn(g, "n1", 60*time.Second) // the first node to join may have taken them
	}
	awsWaitGroups(t, e, "n1", 60*time.Second)

	awsFailover(t, e, "n1", "n2")
	if st := mustStatus(t, e.Cluster, "n2"); !slices.Equal(st.Voters, []string{"n2"}) {
		t.Errorf("survivor's voters %v, want n2 alone", st.Voters)
	}

	e.PowerOn("n1")
	e.Eventually(60*time.Second, "n1 a voter again", func() error {
		st, err := e.Status("n2")
		if err != nil {
			return err
		}
		if len(st.Voters) != 2 {
			return fmt.Errorf("voters %v nonvoters %v", st.Voters, st.Nonvoters)
		}
		return nil
	})
	e.WaitHealthy(60 * time.Second)
	awsWaitGroups(t, e, "n2", 10*time.Second)
}
