package api

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// `vigil node online` clears a leaving mark that outlived its agent (a
// shutdown that never came back, or an older agent), not only standby.
func TestNodeOnlineClearsLeaving(t *testing.T) {
	s, fsm := newTestServer(t)
	b, err := state.Encode(&state.SetLeaving{Node: "n2", Leaving: true, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	applyBytes(fsm, b)
	if !fsm.Read().Nodes["n2"].Leaving {
		t.Fatal("setup: n2 not leaving")
	}
	if rec := do(s.mux, "POST", "/v1/node/standby", `{"node":"n2","standby":false}`); rec.Code != 200 {
		t.Fatalf("node online: %d %s", rec.Code, rec.Body)
	}
	if n := fsm.Read().Nodes["n2"]; n.Leaving || n.Standby {
		t.Errorf("after node online: leaving %v, standby %v", n.Leaving, n.Standby)
	}
}
