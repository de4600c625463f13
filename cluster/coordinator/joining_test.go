package coordinator

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
)

// A cluster starting together: the new leader (the witness) has an answer
// from lb2 but not yet from lb1, the preferred node, which is alive on the
// heartbeat link. The group waits for lb1 for a lease after the election,
// then starts on lb2 (availability first; Wake names the instant). Never
// for the leader it replaced, nor for a node dead on the heartbeat link.
func TestColdStartWaitsALeaseForThePreferredNode(t *testing.T) {
	cold := func(now time.Duration) Input {
		in := base()
		in.Now = t0.Add(now)
		in.Data = &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}} // a new cluster
		in.Links["lb1"] = unknownLink
		in.Links["lb2"] = Link{OK: true, Answered: true, Since: t0, Last: in.Now.Add(-5 * time.Millisecond)}
		return in
	}
	lease := base().Config.Cluster.Timing.Lease

	in := cold(20 * time.Millisecond)
	cmds, _, why := run(t, in)
	if assigns(cmds, "lb2") || !strings.Contains(why["web"], "waiting for lb1 (preferred)") {
		t.Fatalf("20 ms after the election: commands %v, why %q; want a wait for lb1", cmds, why["web"])
	}
	in.Data.Nodes["lb1"] = &state.Node{Name: "lb1", Status: state.NodeOffline, Reason: neverJoined}
	in.Data.Nodes["lb2"] = &state.Node{Name: "lb2", Status: state.NodeOnline}
	in.Data.Nodes["w"] = &state.Node{Name: "w", Status: state.NodeOnline}
	out := Decide(in)
	if len(out.Commands) != 0 || !out.Poll || out.Wake.After(t0.Add(lease)) {
		t.Errorf("commands %v, Poll %v, Wake %v: want none, a poll (lb1's first answer) and a wake by %v", out.Commands, out.Poll, out.Wake, t0.Add(lease))
	}

	// A lease after the election lb1 is offline (never joined) and web
	// starts on lb2.
	if cmds, _, why := run(t, cold(lease)); !assigns(cmds, "lb2") {
		t.Errorf("a lease after the election: commands %v, why %v; want web placed on lb2", cmds, why)
	}

	in = cold(20 * time.Millisecond)
	in.Links["lb1"] = Link{OK: true, Answered: true, Since: t0, Last: in.Now.Add(-time.Millisecond)}
	if cmds, _, why := run(t, in); !assigns(cmds, "lb1") {
		t.Errorf("lb1 answered: commands %v, why %v; want web placed on lb1", cmds, why)
	}

	in = cold(20 * time.Millisecond)
	in.Term.PrevLeader, in.Term.PrevContact = "lb1", t0.Add(-10*time.Millisecond)
	if cmds, _, why := run(t, in); !assigns(cmds, "lb2") {
		t.Errorf("lb1 the leader replaced: commands %v, why %v; want web placed on lb2 at once", cmds, why)
	}

	in = cold(20 * time.Millisecond)
	in.Members["lb1"] = *member(membership.StateDead, t0)
	if cmds, _, why := run(t, in); !assigns(cmds, "lb2") {
		t.Errorf("lb1 dead on the heartbeat link: commands %v, why %v; want web placed on lb2 at once", cmds, why)
	}
}

func assigns(cmds []state.Command, node string) bool {
	for _, c := range cmds {
		if a, ok := c.(*state.Assign); ok && a.Node == node {
			return true
		}
	}
	return false
}
