package state

import "testing"

// TestMaintenanceLeavesGroupsUnmanagedUntilTheHolderReports: a holder in
// maintenance keeps its resources whatever happens to its lease, so the
// group is marked unmanaged until the holder reports after maintenance
// ended (or is released by a fence or its own stop report).
func TestMaintenanceLeavesGroupsUnmanagedUntilTheHolderReports(t *testing.T) {
	f := NewFSM(nil)
	var idx uint64
	must := func(c Command) {
		t.Helper()
		idx++
		if err := apply(t, f, idx, c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	unmanaged := func(g string) bool { return f.Read().Groups[g].Unmanaged }
	must(&Assign{Group: "web", Node: "lb1", Time: t0})
	must(&GroupReport{Group: "web", Node: "lb1", Epoch: 1, State: GroupStarted, Time: t0})
	must(&Assign{Group: "db", Node: "", Time: t0}) // known, held by nobody

	must(&SetMaintenance{On: true, Time: t0})
	if !unmanaged("web") || unmanaged("db") {
		t.Fatalf("after maintenance on: web %v db %v, want true false", unmanaged("web"), unmanaged("db"))
	}
	must(&GroupReport{Group: "web", Node: "lb1", Epoch: 1, State: GroupStarted, Time: t0})
	if !unmanaged("web") {
		t.Fatal("a report during maintenance made the group managed")
	}
	must(&SetMaintenance{On: false, Time: t0})
	if !unmanaged("web") {
		t.Fatal("maintenance off alone made the group managed (the holder has not reported)")
	}
	must(&GroupReport{Group: "web", Node: "lb2", Epoch: 1, State: GroupStopped, Time: t0})
	if !unmanaged("web") {
		t.Fatal("another node's report made the group managed")
	}
	must(&GroupReport{Group: "web", Node: "lb1", Epoch: 1, State: GroupStarted, Time: t0})
	if unmanaged("web") {
		t.Fatal("the holder reported after maintenance; still unmanaged")
	}

	// Group maintenance, then a fence releases the holder.
	must(&SetMaintenance{Group: "web", On: true, Time: t0})
	if !unmanaged("web") {
		t.Fatal("group maintenance did not mark the group")
	}
	must(&SetMaintenance{Group: "web", On: false, Time: t0})
	must(&ClearHolder{Group: "web", Node: "lb1", Reason: "lb1 was fenced", Time: t0})
	if unmanaged("web") {
		t.Fatal("released group still unmanaged")
	}
}
