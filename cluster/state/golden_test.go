package state

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Commands stay in raft logs and snapshots across upgrades: a newer agent
// must decode what an older one wrote. testdata/v1 holds one encoded entry per
// command type as the first release wrote it; these tests decode each and
// compare it with the value it was made from. Never regenerate a fixture of an
// existing type: add a field with a zero default instead, and a new directory
// if the encoding itself ever changes.
var update = flag.Bool("update-golden", false, "write fixtures for command types that have none")

var goldenTime = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// goldenCommands is the value behind each fixture, one per command type.
func goldenCommands() map[string]Command {
	return map[string]Command{
		"set-standby":     &SetStandby{Node: "lb1", Standby: true, Time: goldenTime},
		"set-node-status": &SetNodeStatus{Node: "lb2", Status: NodeFailed, Reason: "lost on both links", Time: goldenTime},
		"assign":          &Assign{Group: "web", Node: "lb1", Reason: "placing on lb1", Health: true, Time: goldenTime},
		"group-report":    &GroupReport{Group: "web", Node: "lb1", Epoch: 7, State: GroupStarted, Reason: "ok", Time: goldenTime},
		"clear-holder":    &ClearHolder{Group: "web", Node: "lb2", Reason: "lb2 was fenced", Time: goldenTime},
		"resource-failed": &ResourceFailed{Group: "web", Resource: "haproxy", Node: "lb1", Reason: "monitor: not running", Count: 3, Time: goldenTime},
		"cleanup":         &Cleanup{Group: "web", Before: goldenTime.Add(-time.Hour), Time: goldenTime, Message: "expired"},
		"set-maintenance": &SetMaintenance{Group: "web", On: true, Time: goldenTime},
		"record-fence": &RecordFence{FenceRecord{Time: goldenTime, Target: "lb2", Device: "lb2-bmc", Reason: "lost",
			OK: true, Duration: 180 * time.Millisecond}},
		"pin":           &Pin{Group: "web", Node: "lb2", Time: goldenTime},
		"record-event":  &RecordEvent{Kind: "leader", Node: "lb1", Group: "web", Message: "lb1 became leader", Time: goldenTime},
		"restart":       &Restart{Group: "web", Time: goldenTime},
		"set-leaving":   &SetLeaving{Node: "lb1", Leaving: true, Time: goldenTime},
		"define-groups": &DefineGroups{Groups: map[string][]string{"web": {"vip", "haproxy"}}, Time: goldenTime},
		"mark-unmanaged": &MarkUnmanaged{Group: "web", Node: "lb1", Reason: "lb1 is offline, in maintenance by its configuration",
			Time: goldenTime},
	}
}

func TestGoldenCommandsDecode(t *testing.T) {
	dir := filepath.Join("testdata", "v1")
	for name, want := range goldenCommands() {
		path := filepath.Join(dir, name+".bin")
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) && *update {
			if b, err = Encode(want); err == nil {
				err = os.WriteFile(path, b, 0o644)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v (run go test -run TestGoldenCommandsDecode -update-golden to add a fixture for a new type)", path, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s decodes to %+v, want %+v", path, got, want)
		}
		if got.Type() != Type(b[0])&^IgnoreUnknown {
			t.Errorf("%s: type byte %d, decoded %T of type %d", path, b[0], got, got.Type())
		}
		// It still applies to a fresh state machine without error.
		f := NewFSM(nil)
		if err, _ := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b}).(error); err != nil && err != ErrHeld {
			t.Errorf("%s: apply: %v", path, err)
		}
	}
}

// Every type the decoder knows has a fixture, so a new command cannot ship
// without one.
func TestEveryCommandTypeHasAFixture(t *testing.T) {
	have := map[Type]bool{}
	for _, c := range goldenCommands() {
		have[c.Type()] = true
	}
	for t8 := 1; t8 < int(IgnoreUnknown); t8++ {
		if _, err := Decode([]byte{byte(t8), '{', '}'}); err == nil && !have[Type(t8)] {
			t.Errorf("command type %d decodes but has no golden fixture in goldenCommands", t8)
		}
	}
	// An unknown optional command from a newer version is skipped, an unknown
	// mandatory one is an error (the upgrade rule).
	if c, err := Decode([]byte{byte(IgnoreUnknown | 0x7e), '{', '}'}); c != nil || err != nil {
		t.Errorf("unknown optional command: %v %v", c, err)
	}
	if _, err := Decode([]byte{0x7e, '{', '}'}); err == nil || !strings.Contains(err.Error(), "unknown command type") {
		t.Errorf("unknown mandatory command: %v", err)
	}
}

// A snapshot written by the first release restores into today's state.
func TestGoldenSnapshotRestores(t *testing.T) {
	path := filepath.Join("testdata", "v1", "snapshot.json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) && *update {
		f := NewFSM(nil)
		for i, name := range []string{"set-node-status", "assign", "group-report", "resource-failed", "record-fence", "pin", "set-standby"} {
			e, _ := Encode(goldenCommands()[name])
			f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e})
		}
		var buf bytes.Buffer
		snap, _ := f.Snapshot()
		if err = snap.Persist(&bufSink{Buffer: &buf}); err == nil {
			b = buf.Bytes()
			err = os.WriteFile(path, b, 0o644)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	f := NewFSM(nil)
	if err := f.Restore(nopCloser{bytes.NewReader(b)}); err != nil {
		t.Fatalf("restore %s: %v", path, err)
	}
	d := f.Read()
	g := d.Groups["web"]
	if g == nil || g.MovedTo != "lb2" || d.Nodes["lb2"] == nil || d.Nodes["lb2"].Status != NodeFailed ||
		!d.Nodes["lb1"].Standby || len(d.Fencing) != 1 || g.Resources["haproxy"].FailCount["lb1"] != 3 {
		t.Fatalf("restored state lost data: %+v", d)
	}
}

type bufSink struct{ *bytes.Buffer }

func (bufSink) ID() string    { return "golden" }
func (bufSink) Cancel() error { return nil }
func (bufSink) Close() error  { return nil }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
