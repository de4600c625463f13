package state

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func knownFSM() *FSM {
	return NewFSMFor(nil, Known{Nodes: []string{"lb1", "lb2", "w"}, Groups: map[string][]string{"web": {"vip", "haproxy"}}})
}

// TestUnknownNamesRefused: commands naming a node, group or resource the
// configuration does not define are refused and create no record.
func TestUnknownNamesRefused(t *testing.T) {
	f := knownFSM()
	bad := []Command{
		&SetNodeStatus{Node: "ghost", Status: NodeOnline, Time: t0},
		&SetStandby{Node: "ghost", Standby: true, Time: t0},
		&Assign{Group: "nope", Node: "lb1", Time: t0},
		&Assign{Group: "web", Node: "ghost", Time: t0},
		&GroupReport{Group: "web", Node: "ghost", State: GroupStarted, Time: t0},
		&GroupReport{Group: "web", Node: "lb1", State: "exploded", Time: t0},
		&ResourceFailed{Group: "web", Resource: "nope", Node: "lb1", Time: t0},
		&RecordFence{FenceRecord: FenceRecord{Target: "ghost", Device: "d", Time: t0}},
		&Pin{Group: "web", Node: "ghost", Time: t0},
		&SetMaintenance{Group: "nope", On: true, Time: t0},
		&RecordEvent{Kind: "x", Group: "nope", Message: "m", Time: t0},
		&SetNodeStatus{Node: "lb1", Status: "pwned", Time: t0},
		&ClearHolder{Group: "web", Node: "", Time: t0},
	}
	for i, c := range bad {
		if err := apply(t, f, uint64(i+1), c); err == nil {
			t.Errorf("%T %+v accepted", c, c)
		}
	}
	d := f.Read()
	if len(d.Nodes) != 0 || len(d.Groups) != 0 || len(d.Events) != 0 || len(d.Fencing) != 0 || d.Maintenance {
		t.Fatalf("refused commands left records: %+v", d)
	}
	// The configured names work.
	if err := apply(t, f, 100, &ResourceFailed{Group: "web", Resource: "vip", Node: "lb1", Reason: "r", Time: t0}); err != nil {
		t.Fatal(err)
	}
}

// TestTextAndNamesBounded: free text is cut to maxText on valid UTF-8
// boundaries (every replica cuts the same way); over-long names are
// refused; without a Known list the record count is bounded.
func TestTextAndNamesBounded(t *testing.T) {
	f := knownFSM()
	long := strings.Repeat("é", 1<<19) // 1 MB
	if err := apply(t, f, 1, &RecordEvent{Kind: strings.Repeat("k", 1000), Message: long, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, f, 2, &ResourceFailed{Group: "web", Resource: "vip", Node: "lb1", Reason: long, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, f, 3, &RecordFence{FenceRecord: FenceRecord{Target: "lb2", Device: "d", Reason: long, Error: long, Time: t0}}); err != nil {
		t.Fatal(err)
	}
	d := f.Read()
	for _, e := range d.Events {
		if len(e.Kind) > maxKind || len(e.Message) > 2*maxText || !utf8.ValidString(e.Message) {
			t.Errorf("event not bounded: kind %d bytes, message %d bytes", len(e.Kind), len(e.Message))
		}
	}
	r := d.Groups["web"].Resources["vip"]
	if len(r.LastFailure) > maxText || !utf8.ValidString(r.LastFailure) {
		t.Errorf("last failure %d bytes", len(r.LastFailure))
	}
	if fr := d.Fencing[0]; len(fr.Reason) > maxText || len(fr.Error) > maxText {
		t.Errorf("fence record not bounded")
	}
	if err := apply(t, f, 4, &RecordFence{FenceRecord: FenceRecord{Target: "lb2", Device: strings.Repeat("d", maxName+1), Time: t0}}); err == nil {
		t.Error("over-long device name accepted")
	}

	g := NewFSM(nil)
	for i := range maxRecords + 10 {
		_ = apply(t, g, uint64(i+1), &SetStandby{Node: "n" + strings.Repeat("x", i%100) + string(rune('a'+i%26)) + strings.Repeat("y", i/26), Standby: true, Time: t0})
	}
	if n := len(g.Read().Nodes); n > maxRecords {
		t.Fatalf("%d node records, bound %d", n, maxRecords)
	}
}
