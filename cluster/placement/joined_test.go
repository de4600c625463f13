package placement

import (
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
