package ipaddr

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vigil-ha/vigil/resources"
)

// StopMany removes every address of its agents (whatever prefix length it
// carries, as Stop does), leaves others alone, and is success for an
// address already gone.
func TestStopManyRemovesEveryAddress(t *testing.T) {
	l := newLab(t)
	var agents []resources.Agent
	for i := range 20 {
		ag := agentIn(t, l.a, map[string]string{"address": fmt.Sprintf("198.18.0.%d/24", 100+i), "garp_count": "2"})
		if err := ag.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, ag)
	}
	// A stray copy of one with another prefix length, and one already gone.
	ipCmd(t, "-n", l.a, "addr", "add", "198.18.0.100/32", "dev", "eth0")
	if err := agents[19].Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	keep := agentIn(t, l.a, map[string]string{"address": "198.18.0.200/24"})
	if err := keep.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i, err := range agents[0].(*Agent).StopMany(ctxT(t), agents) {
		if err != nil {
			t.Errorf("agent %d: %v", i, err)
		}
	}
	for i := range 20 {
		if n := len(addrsOn(t, l.a, netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 100+i)))); n != 0 {
			t.Errorf("198.18.0.%d: %d entries left after StopMany", 100+i, n)
		}
		wantState(t, agents[i], resources.Stopped)
	}
	if n := len(addrsOn(t, l.a, netip.MustParseAddr("198.18.0.200"))); n != 1 {
		t.Errorf("an address StopMany was not given: %d entries, want 1", n)
	}
	for _, ag := range agents {
		if ag.(*Agent).pool.busy(ag.(*Agent)) {
			t.Error("an announcement burst survived StopMany")
		}
	}
}
