package state

import "testing"

// TestMaintenanceLeavesGroupsUnmanagedUntilTheHolderReports: a holder in
// maintenance keeps its resources whatever happens to its lease, so the
// group is marked unmanaged until the holder reports after maintenance
// ended (or is released by a fence or its own stop report).
func TestMaintenanceLeavesGroupsUnmanagedUntilTheHolderReports(t *testing.T) {
	f, must := applier(t)
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

// TestMarkUnmanaged: the leader marks a group in maintenance by its
// configuration whose holder it lost; only for that holder, once, and the
// holder's report after maintenance clears it as for maintenance by command.
func TestMarkUnmanaged(t *testing.T) {
	f, must := applier(t)
	unmanaged := func() bool { return f.Read().Groups["web"].Unmanaged }
	events := func() int { return len(f.Read().Events) }
	must(&Assign{Group: "web", Node: "lb1", Time: t0})
	must(&GroupReport{Group: "web", Node: "lb1", Epoch: 1, State: GroupStarted, Time: t0})
	must(&MarkUnmanaged{Group: "web", Node: "lb2", Reason: "not the holder", Time: t0})
	if unmanaged() {
		t.Fatal("marked for a node that does not hold it")
	}
	must(&MarkUnmanaged{Group: "web", Node: "lb1", Reason: "lb1 is offline", Time: t0})
	if !unmanaged() {
		t.Fatal("not marked")
	}
	n := events()
	must(&MarkUnmanaged{Group: "web", Node: "lb1", Reason: "again", Time: t0})
	if events() != n {
		t.Error("a second mark made another event")
	}
	must(&GroupReport{Group: "web", Node: "lb1", Epoch: 1, State: GroupStarted, Time: t0})
	if unmanaged() {
		t.Fatal("the holder reported; still unmanaged")
	}
}

// applier is a fresh state machine and a function that applies one command
// to it as the next log entry, failing the test on an error.
func applier(t *testing.T) (*FSM, func(Command)) {
	f := NewFSM(nil)
	var idx uint64
	return f, func(c Command) {
		t.Helper()
		idx++
		if err := apply(t, f, idx, c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
}
