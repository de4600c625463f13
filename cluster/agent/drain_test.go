package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/raftmembers"
	"github.com/vigil-ha/vigil/cluster/state"
)

func TestTransferTargetHoldsNothing(t *testing.T) {
	servers := []raftmembers.Server{{ID: "n1", Voter: true}, {ID: "n2", Voter: true}, {ID: "w", Voter: true}, {ID: "n3"}, {ID: "n4", Voter: true}}
	up := consensus.PeerLink{OK: true, Answered: true}
	all := map[string]consensus.PeerLink{"n2": up, "w": up, "n3": up}
	web := func(node, holder string) *state.Data {
		return &state.Data{Groups: map[string]*state.Group{"web": {Name: "web", Node: node, Holder: holder}}, Nodes: map[string]*state.Node{}}
	}
	for _, tc := range []struct {
		name    string
		contact map[string]consensus.PeerLink
		data    *state.Data
		want    string
	}{
		{"the witness, n2 holds", all, web("n2", "n2"), "w"},
		{"the witness, n2 is assigned", all, web("n2", "n1"), "w"},
		{"the witness first when none holds", all, web("", ""), "w"},
		{"first by name without a witness", map[string]consensus.PeerLink{"n2": up, "n3": up, "n4": up}, web("", ""), "n2"},
		{"not a non-voter", map[string]consensus.PeerLink{"n2": up, "n3": up}, web("n2", "n2"), ""},
		{"not an unanswered voter", map[string]consensus.PeerLink{"n2": up, "w": {OK: true}}, web("n2", "n2"), ""},
		{"not a failed link", map[string]consensus.PeerLink{"n2": up, "w": {Answered: true}}, web("n2", "n2"), ""},
		{"not an unobserved voter", map[string]consensus.PeerLink{"n2": up}, web("n2", "n2"), ""},
		{"not a leaving voter", all, &state.Data{Groups: map[string]*state.Group{}, Nodes: map[string]*state.Node{"n2": {Name: "n2", Leaving: true}}}, "w"},
	} {
		if got := transferTarget("n1", servers, tc.contact, tc.data, map[string]bool{"w": true}); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A leaving mark from an earlier incarnation is cleared at start whatever
// the clocks say: after a reboot the node's clock may run behind the one
// that stamped the mark. One this incarnation set (its start in the mark,
// or a drain under way) stays.
func TestClearLeavingIgnoresTheClock(t *testing.T) {
	future := time.Now().Add(time.Hour)                        // stamped by a clock an hour ahead of this start
	for _, mark := range []string{"1764528000000000000", ""} { // this version's mark, an earlier version's
		marked := &state.Node{Name: "n1", Leaving: true, LeavingSince: future, LeavingBoot: mark}
		if !clearLeaving(marked, "1764529000000000000", false) {
			t.Errorf("mark %q: an earlier incarnation's mark stamped later than this start is kept", mark)
		}
		if clearLeaving(marked, "1764529000000000000", true) {
			t.Errorf("mark %q: this incarnation's own mark (a drain under way) is cleared", mark)
		}
	}
	own := &state.Node{Name: "n1", Leaving: true, LeavingSince: future, LeavingBoot: "1764529000000000000"}
	if clearLeaving(own, "1764529000000000000", false) {
		t.Error("a mark naming this incarnation is cleared")
	}
	if clearLeaving(&state.Node{Name: "n1"}, "1", false) || clearLeaving(nil, "1", false) {
		t.Error("no mark, or no record: something to clear")
	}
}
