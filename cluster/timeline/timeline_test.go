package timeline

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ev(ms int, kind, node, group string) state.Event {
	return state.Event{Time: at(ms), Kind: kind, Node: node, Group: group, Index: uint64(ms)}
}

func phases(f Failover) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range f.Phases {
		out[p.Name] = p.Duration()
	}
	return out
}

func TestCrashWithFencing(t *testing.T) {
	events := []state.Event{
		ev(0, "assign", "lb1", "web"),
		ev(100, "group-started", "lb1", "web"),
		ev(5000, "node-failed", "lb1", ""),
		ev(5005, "assign", "", "web"), // stop requested; the fence does it
		ev(5900, "fence", "lb1", ""),
		ev(5910, "node-fenced", "lb1", ""),
		ev(5920, "group-released", "lb1", "web"),
		ev(5930, "assign", "lb2", "web"),
		ev(6200, "group-started", "lb2", "web"),
	}
	fences := []state.FenceRecord{{Time: at(5900), Target: "lb1", Device: "bmc", OK: true, Duration: 700 * time.Millisecond}}
	contacts := func(node string, verdict time.Time) (time.Time, bool) {
		if node != "lb1" || !verdict.Equal(at(5000)) {
			t.Errorf("contacts(%s, %v)", node, verdict)
		}
		return at(4200), true
	}
	fs := Build(events, fences, contacts)
	if len(fs) != 1 {
		t.Fatalf("failovers = %+v", fs)
	}
	f := fs[0]
	if f.From != "lb1" || f.To != "lb2" || f.Cause != CauseNodeFailed || f.Index != 6200 {
		t.Errorf("failover = %+v", f)
	}
	want := map[string]time.Duration{Detect: 800 * time.Millisecond, Decide: 5 * time.Millisecond,
		Fence: 710 * time.Millisecond, Start: 270 * time.Millisecond}
	if got := phases(f); len(got) != len(want) {
		t.Errorf("phases = %v, want %v", got, want)
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
	}
	if f.Duration() != 2000*time.Millisecond {
		t.Errorf("total %v", f.Duration())
	}
	// Without the leader's contact facts, detect is simply not there.
	if got := phases(Build(events, fences, nil)[0]); got[Detect] != 0 || got[Decide] == 0 {
		t.Errorf("without contacts: %v", got)
	}
}

func TestPlannedMoveAndRestartInPlace(t *testing.T) {
	events := []state.Event{
		ev(0, "assign", "lb1", "web"),
		ev(100, "group-started", "lb1", "web"),
		// a restart in place is no failover
		ev(200, "restart", "lb1", "web"),
		ev(300, "group-started", "lb1", "web"),
		ev(1000, "node-standby", "lb1", ""),
		ev(1010, "assign", "", "web"),
		ev(1300, "group-stopped", "lb1", "web"),
		ev(1310, "assign", "lb2", "web"),
		ev(1600, "group-started", "lb2", "web"),
		// back by operator move
		ev(2000, "pin", "lb1", "web"),
		ev(2010, "assign", "", "web"),
		ev(2100, "group-stopped", "lb2", "web"),
		ev(2110, "assign", "lb1", "web"),
		ev(2200, "group-started", "lb1", "web"),
	}
	fs := Build(events, nil, nil)
	if len(fs) != 2 {
		t.Fatalf("failovers = %+v", fs)
	}
	if fs[0].Cause != CauseStandby || fs[1].Cause != CauseOperator || fs[1].From != "lb2" || fs[1].To != "lb1" {
		t.Errorf("causes: %+v", fs)
	}
	got := phases(fs[0])
	want := map[string]time.Duration{Decide: 10 * time.Millisecond, Stop: 290 * time.Millisecond, Start: 290 * time.Millisecond}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all %v)", k, got[k], v, got)
		}
	}
	if _, ok := got[Fence]; ok {
		t.Errorf("fence phase without fencing: %v", got)
	}
}

func TestLeaseLossWithoutFencing(t *testing.T) {
	events := []state.Event{
		ev(0, "assign", "lb1", "web"),
		ev(100, "group-started", "lb1", "web"),
		ev(5000, "node-offline", "lb1", ""),
		ev(5010, "assign", "", "web"), // "group web to stop on lb1: lb1 is offline"
		ev(8000, "group-released", "lb1", "web"),
		ev(8010, "assign", "lb2", "web"),
		ev(8100, "group-started", "lb2", "web"),
	}
	f := Build(events, nil, nil)[0]
	if f.Cause != CauseNodeOffline {
		t.Errorf("cause %s", f.Cause)
	}
	if got := phases(f); got[Decide] != 10*time.Millisecond || got[Stop] != 2990*time.Millisecond || got[Start] != 90*time.Millisecond {
		t.Errorf("phases %v (the stop of a lost node lasts until its lease ran out)", got)
	}
}
