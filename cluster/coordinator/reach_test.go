package coordinator

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
)

// lostHolder: lb1 holds web, has a fence device, and went silent on the
// cluster link (heartbeat link still alive) 120 ms ago: well inside its
// lease.
func lostHolder() Input {
	in := base()
	last := t0.Add(2 * time.Second)
	in.Links["lb1"] = Link{OK: true, Answered: true, Since: t0, Last: last, Renewed: last}
	in.Members["lb1"] = *member(membership.StateAlive, t0)
	in.Fenceable = fencing("lb1", "lb2")
	in.Now = last.Add(in.staleAfter() + 20*time.Millisecond)
	in.Data.Nodes["lb1"].Status = state.NodeOffline
	return in
}

// A fenceable node lost on the cluster link is asked about once per loss;
// a node answering, one without a device, or one asked since its last sign
// of life is not.
func TestLostNodeIsProbedOncePerLoss(t *testing.T) {
	in := lostHolder()
	if got := Decide(in).Probes; len(got) != 1 || got[0] != "lb1" {
		t.Fatalf("probes %v, want [lb1]", got)
	}
	in.Probed = map[string]time.Time{"lb1": in.Now}
	if got := Decide(in).Probes; len(got) != 0 {
		t.Errorf("probes %v after asking since the loss, want none", got)
	}
	// Back, then lost again later: asked again.
	in.Links["lb1"] = Link{OK: true, Answered: true, Since: t0, Last: in.Now.Add(time.Second), Renewed: in.Now.Add(time.Second)}
	in.Now = in.Now.Add(time.Second + in.staleAfter() + time.Millisecond)
	if got := Decide(in).Probes; len(got) != 1 {
		t.Errorf("probes %v after a second loss, want [lb1]", got)
	}
	in = lostHolder()
	in.Fenceable = fencing("lb2")
	if got := Decide(in).Probes; len(got) != 0 {
		t.Errorf("probes %v of a node without a fence device", got)
	}
}

// A silent host (both links unanswered, probe started after its last sign
// of life) has failed: it is fenced at once, before its lease ends. A probe
// older than its last sign of life says nothing, and without one the lease
// still decides.
func TestSilentHostIsFencedBeforeItsLeaseEnds(t *testing.T) {
	in := lostHolder()
	_, fences, _ := run(t, in)
	if len(fences) != 0 {
		t.Fatalf("fenced %v inside the lease with no probe", fences)
	}
	last := in.Links["lb1"].Last
	in.Silent = map[string]time.Time{"lb1": last.Add(-time.Millisecond)}
	if _, fences, _ := run(t, in); len(fences) != 0 {
		t.Fatalf("fenced %v on a probe older than the last answer", fences)
	}
	in.Silent = map[string]time.Time{"lb1": last.Add(in.staleAfter())}
	if cmds := failedAndFenced(t, in); moved(cmds) {
		t.Errorf("web moved before the fence: %s", show(cmds))
	}
}

// A node is asked about once it has not answered for probeAfter (two
// fifths of the time that makes its link lost); the leader wakes for that
// instant.
func TestQuietNodeIsProbedBeforeItsLinkIsLost(t *testing.T) {
	in := lostHolder()
	last := in.Links["lb1"].Last
	in.Data.Nodes["lb1"].Status = state.NodeOnline
	in.Now = last.Add(in.probeAfter() - time.Millisecond)
	out := Decide(in)
	if len(out.Probes) != 0 {
		t.Fatalf("probes %v while lb1 answered %v ago", out.Probes, in.Now.Sub(last))
	}
	if want := last.Add(in.probeAfter()); !out.Wake.Equal(want) {
		t.Errorf("Wake = %v after the last answer, want %v", out.Wake.Sub(last), want.Sub(last))
	}
	in.Now = last.Add(in.probeAfter())
	if got := Decide(in).Probes; len(got) != 1 || got[0] != "lb1" {
		t.Errorf("probes %v after %v without an answer, want [lb1]", got, in.probeAfter())
	}
}

// The silent answer to that probe is the loss: the node has failed and is
// fenced at once, before staleAfter, and is not asked again. An answer on
// the cluster link after the probe started is life: online again, and the
// probe says nothing any more.
func TestSilentProbeLosesTheLinkBeforeItGoesStale(t *testing.T) {
	in := lostHolder()
	last := in.Links["lb1"].Last
	in.Data.Nodes["lb1"].Status = state.NodeOnline
	probe := last.Add(in.probeAfter())
	in.Probed = map[string]time.Time{"lb1": probe}
	in.Silent = map[string]time.Time{"lb1": probe}
	in.Now = probe.Add(20 * time.Millisecond)
	if in.Now.Sub(last) >= in.staleAfter() {
		t.Fatalf("test setup: %v is not before staleAfter %v", in.Now.Sub(last), in.staleAfter())
	}
	if st, _ := in.link("lb1"); st != linkLost {
		t.Fatalf("link %v after a silent probe, want lost", st)
	}
	out := Decide(in)
	if len(out.Probes) != 0 {
		t.Errorf("probes %v of a host already found silent", out.Probes)
	}
	failedAndFenced(t, in)
	in = lostHolder()
	in.Data.Nodes["lb1"].Status = state.NodeOnline
	in.Silent = map[string]time.Time{"lb1": probe}
	answered := probe.Add(5 * time.Millisecond)
	in.Links["lb1"] = Link{OK: true, Answered: true, Since: t0, Last: answered, Renewed: last}
	in.Now = answered.Add(time.Millisecond)
	if st, _ := in.link("lb1"); st != linkOK {
		t.Errorf("link %v after an answer newer than the silent probe, want ok", st)
	}
	if _, fences, _ := run(t, in); len(fences) != 0 {
		t.Errorf("fenced %v after an answer newer than the silent probe", fences)
	}
}

// A host that answered the early probe and then lost its power is asked
// again once its link counts as lost, and not again after that.
func TestEarlyProbeIsRepeatedOnceTheLinkIsLost(t *testing.T) {
	in := lostHolder()
	last := in.Links["lb1"].Last
	in.Probed = map[string]time.Time{"lb1": last.Add(in.probeAfter())}
	in.Now = last.Add(in.staleAfter())
	if got := Decide(in).Probes; len(got) != 1 {
		t.Fatalf("probes %v at the loss after a half-way probe, want [lb1]", got)
	}
	in.Probed["lb1"] = in.Now
	in.Now = in.Now.Add(10 * time.Millisecond)
	if got := Decide(in).Probes; len(got) != 0 {
		t.Errorf("probes %v after the probe at the loss, want none", got)
	}
}

// failedAndFenced runs the decisions for in and checks that lb1 is judged
// failed and fenced at once; it returns the commands.
func failedAndFenced(t *testing.T, in Input) []state.Command {
	t.Helper()
	cmds, fences, _ := run(t, in)
	st := commandsOf[*state.SetNodeStatus](Output{Commands: cmds})
	if len(st) == 0 || st[0].Status != state.NodeFailed {
		t.Errorf("status commands %v, want lb1 failed", st)
	}
	if len(fences) != 1 || fences[0].Node != "lb1" {
		t.Errorf("fences %v, want lb1 fenced at once", fences)
	}
	return cmds
}
