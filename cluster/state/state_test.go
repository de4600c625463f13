package state

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func apply(t *testing.T, f *FSM, idx uint64, c Command) error {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	resp := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b})
	if e, ok := resp.(error); ok {
		return e
	}
	return nil
}

func TestStandbyAndHistory(t *testing.T) {
	f := NewFSM(nil)
	w := f.Watch()
	if err := apply(t, f, 1, &SetStandby{Node: "lb1", Standby: true, Time: t0}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
	default:
		t.Fatal("watchers not notified")
	}
	d := f.Read()
	if !d.Nodes["lb1"].Standby {
		t.Fatal("standby not recorded")
	}
	if len(d.Events) != 1 || d.Events[0].Kind != "node-standby" || d.Events[0].Index != 1 {
		t.Fatalf("events = %+v", d.Events)
	}
	// Read returns a copy: mutating it must not change the FSM.
	d.Nodes["lb1"].Standby = false
	if !f.Read().Nodes["lb1"].Standby {
		t.Fatal("Read shares memory with the FSM")
	}
}

// TestAssignNeedsRelease checks invariant 2 in the state machine itself: a
// group cannot be assigned to a new node while the old holder has not
// reported it stopped (or been released by fencing / lease expiry).
func TestAssignNeedsRelease(t *testing.T) {
	f := NewFSM(nil)
	must := func(idx uint64, c Command) {
		t.Helper()
		if err := apply(t, f, idx, c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	must(1, &Assign{Group: "web", Node: "lb1", Time: t0})
	g := f.Read().Groups["web"]
	if g.Node != "lb1" || g.Holder != "lb1" || g.State != GroupStarting || g.Epoch != 1 {
		t.Fatalf("after assign: %+v", g)
	}
	must(2, &GroupReport{Group: "web", Node: "lb1", Epoch: 1, State: GroupStarted, Time: t0})
	must(3, &Assign{Group: "web", Node: "", Reason: "standby", Time: t0})
	err := apply(t, f, 4, &Assign{Group: "web", Node: "lb2", Time: t0})
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("assign while held: err = %v, want ErrHeld", err)
	}
	if g := f.Read().Groups["web"]; g.Node != "" || g.Holder != "lb1" {
		t.Fatalf("refused assign changed state: %+v", g)
	}
	// A stale report from another node changes nothing.
	must(5, &GroupReport{Group: "web", Node: "lb2", Epoch: 2, State: GroupStopped, Time: t0})
	if f.Read().Groups["web"].Holder != "lb1" {
		t.Fatal("non-holder report released the group")
	}
	must(6, &GroupReport{Group: "web", Node: "lb1", Epoch: 2, State: GroupStopped, Time: t0})
	if g := f.Read().Groups["web"]; g.Holder != "" || g.State != GroupStopped {
		t.Fatalf("stop report did not release: %+v", g)
	}
	must(7, &Assign{Group: "web", Node: "lb2", Time: t0})
	if g := f.Read().Groups["web"]; g.Node != "lb2" || g.Holder != "lb2" || g.Moves != 1 {
		t.Fatalf("move: %+v", g)
	}
}

func TestClearHolderAndFailCounts(t *testing.T) {
	f := NewFSM(nil)
	_ = apply(t, f, 1, &Assign{Group: "web", Node: "lb1", Time: t0})
	_ = apply(t, f, 2, &ResourceFailed{Group: "web", Resource: "vip", Node: "lb1", Reason: "gone", Time: t0})
	_ = apply(t, f, 3, &ResourceFailed{Group: "web", Resource: "vip", Node: "lb1", Reason: "gone", Time: t0.Add(time.Minute)})
	if n := f.Read().Groups["web"].FailCount("lb1"); n != 2 {
		t.Fatalf("fail count = %d", n)
	}
	_ = apply(t, f, 4, &ResourceFailed{Group: "web", Resource: "vip", Node: "lb1", Count: 1000000, Time: t0})
	if n := f.Read().Groups["web"].FailCount("lb1"); n != 1000000 {
		t.Fatalf("ban count = %d", n)
	}
	_ = apply(t, f, 5, &ClearHolder{Group: "web", Node: "lb2", Reason: "wrong node", Time: t0})
	if f.Read().Groups["web"].Holder != "lb1" {
		t.Fatal("ClearHolder for another node released the group")
	}
	_ = apply(t, f, 6, &ClearHolder{Group: "web", Node: "lb1", Reason: "fenced", Time: t0})
	if g := f.Read().Groups["web"]; g.Holder != "" || g.Node != "" {
		t.Fatalf("not released: %+v", g)
	}
	_ = apply(t, f, 7, &Cleanup{Group: "web", Time: t0})
	if n := f.Read().Groups["web"].FailCount("lb1"); n != 0 {
		t.Fatalf("cleanup left %d", n)
	}
}

func TestSnapshotRestore(t *testing.T) {
	f := NewFSM(nil)
	_ = apply(t, f, 1, &SetStandby{Node: "lb2", Standby: true, Time: t0})
	_ = apply(t, f, 2, &Assign{Group: "web", Node: "lb1", Time: t0})
	_ = apply(t, f, 3, &SetMaintenance{On: true, Time: t0})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.Persist(&sink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	d := g.Read()
	if !d.Nodes["lb2"].Standby || d.Groups["web"].Holder != "lb1" || !d.Maintenance || d.Index != 3 {
		t.Fatalf("restored = %+v", d)
	}
	// A truncated snapshot is refused and leaves the state alone.
	if err := g.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()[:buf.Len()/2]))); err == nil {
		t.Fatal("truncated snapshot accepted")
	}
	if !g.Read().Nodes["lb2"].Standby {
		t.Fatal("failed restore lost state")
	}
}

func TestDecodeGarbageAndUnknown(t *testing.T) {
	f := NewFSM(nil)
	for _, b := range [][]byte{nil, {0x7f, '{'}, {byte(TypeAssign), 'x'}} {
		resp := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b})
		if _, ok := resp.(error); !ok {
			t.Fatalf("garbage %q accepted", b)
		}
	}
	// An unknown type flagged ignore-unknown is skipped silently.
	if resp := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{0xff, '{', '}'}}); resp != nil {
		t.Fatalf("ignorable command: %v", resp)
	}
}

type sink struct{ *bytes.Buffer }

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { return nil }
func (s *sink) Close() error  { return nil }

// A Read copy shares the append-only history with the FSM; neither side's
// later appends may show through to the other.
func TestReadHistoryIsStableAcrossApplies(t *testing.T) {
	f := NewFSM(nil)
	for i := uint64(1); i <= 3; i++ {
		_ = apply(t, f, i, &RecordEvent{Kind: "test", Message: "m", Time: t0})
	}
	r := f.Read()
	for i := uint64(4); i <= maxEvents+10; i++ { // appends, then trims
		_ = apply(t, f, i, &RecordEvent{Kind: "test", Message: "later", Time: t0})
	}
	if len(r.Events) != 3 || r.Events[2].Message != "m" || r.Events[2].Index != 3 {
		t.Fatalf("reader's history changed: %d events, last %+v", len(r.Events), r.Events[len(r.Events)-1])
	}
	r2 := f.Read()
	_ = append(r2.Events, Event{Message: "reader's own"})
	if d := f.Read(); len(d.Events) != maxEvents || d.Events[len(d.Events)-1].Message != "later" {
		t.Fatalf("FSM history disturbed by a reader's append: %d, %+v", len(d.Events), d.Events[len(d.Events)-1])
	}
}

// A leaving mark records the incarnation that set it (its gossiped start),
// and clearing it forgets that.
func TestLeavingMarkRecordsItsIncarnation(t *testing.T) {
	f := NewFSM(nil)
	if err := apply(t, f, 1, &SetLeaving{Node: "lb1", Leaving: true, Time: t0, Boot: "1764528000000000000"}); err != nil {
		t.Fatal(err)
	}
	if n := f.Read().Nodes["lb1"]; !n.Leaving || n.LeavingBoot != "1764528000000000000" || !n.LeavingSince.Equal(t0) {
		t.Fatalf("after the mark: %+v", n)
	}
	if err := apply(t, f, 2, &SetLeaving{Node: "lb1", Leaving: false, Time: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n := f.Read().Nodes["lb1"]; n.Leaving || n.LeavingBoot != "" {
		t.Fatalf("after clearing it: %+v", n)
	}
}
