package coordinator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
)

// lostHolderInMaintenance: lb1 holds web and has been cut off well past its
// lease (the agent restarted for an upgrade, say) while the cluster, or the
// group, is in maintenance.
func lostHolderInMaintenance(group bool) Input {
	in := base()
	if group {
		in.Data.Groups["web"].Maintenance = true
	} else {
		in.Data.Maintenance = true
	}
	in.Data.Groups["web"].Unmanaged = true
	in.Data.Nodes["lb1"].Status = state.NodeOffline
	in.Links["lb1"] = lostLink
	in.Members["lb1"] = *member(membership.StateDead, t0.Add(3*time.Second))
	in.Now = t0.Add(time.Minute)
	return in
}

// TestMaintenanceNeitherReleasesNorFencesALostHolder: in maintenance a holder
// leaves its resources running whatever happens to its lease (its crash
// guard too), so a lapsed lease proves nothing: the group was released and
// started elsewhere while the old holder still had the VIP (a restart in
// maintenance, then maintenance off). Nor is a node fenced for it.
func TestMaintenanceNeitherReleasesNorFencesALostHolder(t *testing.T) {
	for _, group := range []bool{false, true} {
		in := lostHolderInMaintenance(group)
		in.Fenceable = fencing("lb1")
		cmds, fences, _ := run(t, in)
		if moved(cmds) || len(fences) != 0 {
			t.Errorf("group maintenance %v: commands %s, fences %v; want none", group, show(cmds), fences)
		}
	}
}

// TestHolderLeftRunningInMaintenanceIsNotReleasedByLease: maintenance is off
// again but lb1 has not reported since: it may never have learnt that it
// should stop, so only its return or a fence releases web.
func TestHolderLeftRunningInMaintenanceIsNotReleasedByLease(t *testing.T) {
	in := lostHolderInMaintenance(false)
	in.Data.Maintenance = false
	cmds, fences, why := run(t, in)
	if moved(cmds) || len(fences) != 0 {
		t.Fatalf("commands %s, fences %v; want web left with lb1", show(cmds), fences)
	}
	if !strings.Contains(why["web"], "has not reported since maintenance ended") {
		t.Errorf("why = %q", why["web"])
	}

	in.Fenceable = fencing("lb1")
	cmds, fences, _ = run(t, in)
	if len(fences) != 1 || fences[0].Node != "lb1" || moved(cmds) {
		t.Errorf("with a fence device: commands %v, fences %v; want lb1 fenced first", cmds, fences)
	}

	in.Fenceable = nil
	in.Data.Groups["web"].Unmanaged = false // lb1 reported, then was lost
	cmds, _, _ = run(t, in)
	if len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 1 {
		t.Errorf("a managed holder's lapsed lease: commands %v, want web released", cmds)
	}
}

// TestConfiguredMaintenanceMarksALostHolderUnmanaged: maintenance by the
// group's configuration is no replicated state, so nothing marked web
// unmanaged; the leader does when it loses the holder, and web then waits for
// lb1 after the configuration is changed back, as after `maintenance off`.
func TestConfiguredMaintenanceMarksALostHolderUnmanaged(t *testing.T) {
	in := lostHolderInMaintenance(false)
	in.Data.Maintenance = false
	in.Data.Groups["web"].Unmanaged = false
	for i := range in.Config.Groups {
		if in.Config.Groups[i].Name == "web" {
			in.Config.Groups[i].Maintenance = true
		}
	}
	cmds, fences, _ := run(t, in)
	marks := commandsOf[*state.MarkUnmanaged](Output{Commands: cmds})
	if moved(cmds) || len(fences) != 0 || len(marks) != 1 || marks[0].Group != "web" || marks[0].Node != "lb1" {
		t.Fatalf("commands %s, fences %v; want web marked unmanaged on lb1, nothing else", show(cmds), fences)
	}
	in.Data.Groups["web"].Unmanaged = true
	if cmds, _, _ := run(t, in); moved(cmds) || len(commandsOf[*state.MarkUnmanaged](Output{Commands: cmds})) != 0 {
		t.Errorf("already marked: commands %s, want no mark and no move", show(cmds))
	}
}

// moved: web was released or assigned to a node (a stop request, Node "",
// leaves it held).
func moved(cmds []state.Command) bool {
	for _, c := range cmds {
		switch c := c.(type) {
		case *state.ClearHolder:
			return true
		case *state.Assign:
			if c.Node != "" {
				return true
			}
		}
	}
	return false
}

func show(cmds []state.Command) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "%T%+v ", c, c)
	}
	return b.String()
}
