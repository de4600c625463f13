package state

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func applyTo(t *testing.T, f *FSM, idx uint64, c Command) error {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b})
	if err, ok := r.(error); ok {
		return err
	}
	return nil
}

// A group added by a reload is accepted once the leader defined it, even by
// a replica whose own configuration does not list it yet; a removed group is
// still accepted from its holder until it reports it stopped, then dropped.
func TestDefineGroupsAddsAndDropsGroups(t *testing.T) {
	now := time.Now()
	f := NewFSMFor(nil, Known{Nodes: []string{"lb1", "lb2"}, Groups: map[string][]string{"web": {"vip"}, "old": {"vip"}}})
	if err := applyTo(t, f, 1, &Assign{Group: "api", Node: "lb1", Time: now}); err == nil {
		t.Fatal("assign of an undefined group accepted")
	}
	must := func(idx uint64, c Command) {
		t.Helper()
		if err := applyTo(t, f, idx, c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	must(2, &Assign{Group: "old", Node: "lb2", Time: now})
	must(3, &GroupReport{Group: "old", Node: "lb2", Epoch: 1, State: GroupStarted, Time: now})
	must(4, &DefineGroups{Groups: map[string][]string{"web": {"vip"}, "api": {"vip", "app"}}, Time: now})
	must(5, &Assign{Group: "api", Node: "lb1", Time: now})
	must(6, &ResourceFailed{Group: "api", Resource: "app", Node: "lb1", Reason: "x", Time: now})
	if err := applyTo(t, f, 7, &ResourceFailed{Group: "api", Resource: "nope", Node: "lb1", Time: now}); err == nil {
		t.Error("unknown resource of a defined group accepted")
	}
	if f.Read().Groups["old"] == nil {
		t.Fatal("a removed group still held by lb2 was dropped before lb2 stopped it")
	}
	// The leader assigns it nowhere; the holder reports it stopped.
	must(8, &Assign{Group: "old", Node: "", Time: now})
	must(9, &GroupReport{Group: "old", Node: "lb2", Epoch: 2, State: GroupStopped, Time: now})
	must(10, &DefineGroups{Groups: map[string][]string{"web": {"vip"}, "api": {"vip", "app"}}, Time: now})
	d := f.Read()
	if d.Groups["old"] != nil {
		t.Error("removed group not dropped once stopped")
	}
	if err := applyTo(t, f, 11, &Assign{Group: "old", Node: "lb1", Time: now}); err == nil {
		t.Error("assign of a dropped group accepted")
	}
	// Snapshots carry the definition.
	if c := d.Clone(); len(c.Defined["api"]) != 2 {
		t.Errorf("clone lost the definition: %v", c.Defined)
	}
	if err := applyTo(t, f, 12, &DefineGroups{Groups: map[string][]string{"": {}}, Time: now}); err == nil {
		t.Error("empty group name accepted")
	}
}
