package agent

import (
	"testing"

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
