package placement

import (
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// A node that has not joined the leader yet gets no new group, but a group
// already there is not stopped for it (right after an election every link
// is unknown).
func TestNotJoinedNodeGetsNoNewGroupButKeepsItsOwn(t *testing.T) {
	c := cfg(configs.Group{Name: "web", Prefer: "lb1"})
	f := Facts{NotJoined: map[string]string{"lb1": "has not answered"}}
	acts, _ := plan(c, data(map[string]string{"lb1": "online", "lb2": "online", "w": "online"}), f)
	if len(acts) != 1 || acts[0].Node != "lb2" {
		t.Errorf("new placement %+v; want lb2 (lb1 preferred but not joined)", acts)
	}
	running := &state.Group{Name: "web", Node: "lb1", Holder: "lb1", State: state.GroupStarted}
	acts, why := plan(c, data(map[string]string{"lb1": "online", "lb2": "online", "w": "online"}, running), f)
	if len(acts) != 0 {
		t.Errorf("group on a node not joined yet: actions %+v (%v); want none", acts, why)
	}
}

// A group that runs nowhere waits for its preferred node while that node is
// joining (alive on the heartbeat link, not yet answering a new leader),
// instead of starting on another node and staying there. It does not wait
// for a joining node it would not go to anyway.
func TestGroupWaitsForItsJoiningPreferredNode(t *testing.T) {
	nodes := map[string]string{"lb1": "online", "lb2": "online", "w": "online"}
	notJoined := map[string]string{"lb1": "has not answered"}
	c := cfg(configs.Group{Name: "web", Prefer: "lb1"})
	for _, st := range []string{"online", "offline", ""} {
		nodes := map[string]string{"lb1": st, "lb2": "online", "w": "online"}
		acts, why := plan(c, data(nodes), Facts{NotJoined: notJoined, Joining: map[string]bool{"lb1": true}})
		if len(acts) != 0 || len(why) != 1 || !strings.Contains(why[0].Reason, "waiting for lb1 (preferred)") {
			t.Errorf("preferred lb1 (%q) joining: actions %+v, why %+v; want a wait", st, acts, why)
		}
	}

	for name, tc := range map[string]struct {
		c     *configs.Config
		nodes map[string]string
		g     *state.Group
	}{
		"no preference":         {cfg(configs.Group{Name: "web"}), nodes, nil},
		"preferred in standby":  {c, map[string]string{"lb1": "online+standby", "lb2": "online", "w": "online"}, nil},
		"preferred fenced":      {c, map[string]string{"lb1": "fenced", "lb2": "online", "w": "online"}, nil},
		"moved by the operator": {c, nodes, &state.Group{Name: "web", MovedTo: "lb2", State: state.GroupStopped}},
	} {
		var groups []*state.Group
		if tc.g != nil {
			groups = append(groups, tc.g)
		}
		acts, why := plan(tc.c, data(tc.nodes, groups...), Facts{NotJoined: notJoined, Joining: map[string]bool{"lb1": true}})
		if len(acts) != 1 || acts[0].Node != "lb2" {
			t.Errorf("%s: actions %+v, why %+v; want placed on lb2 at once", name, acts, why)
		}
	}

	running := &state.Group{Name: "web", Node: "lb2", Holder: "lb2", State: state.GroupStarted}
	if acts, _ := plan(c, data(nodes, running), Facts{NotJoined: notJoined, Joining: map[string]bool{"lb1": true}}); len(acts) != 0 {
		t.Errorf("group running on lb2: actions %+v; want it left there", acts)
	}
}
