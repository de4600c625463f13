package coordinator

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
)

// A holder that stops answering is lost once it has been silent for
// staleAfter, with no failed heartbeat needed (a powered-off peer sends no
// RST), and its group is released exactly a lease plus the margin after its
// last renewal arrived (its lease counts from a renewal's send); Wake names
// each of those instants in advance.
func TestSilentHolderIsLostAndReleasedOnTime(t *testing.T) {
	in := base()
	tm := in.Config.Cluster.Timing
	last := t0.Add(2 * time.Second)
	renewed := last.Add(-40 * time.Millisecond)
	in.Links["lb1"] = Link{OK: true, Answered: true, Since: t0, Last: last, Renewed: renewed}
	in.Members["lb1"] = *member(membership.StateAlive, t0)

	in.Now = last.Add(in.staleAfter() - time.Millisecond)
	out := Decide(in)
	if len(out.Commands) != 0 {
		t.Fatalf("commands while the link is fresh: %v", out.Commands)
	}
	if want := last.Add(in.staleAfter()); !out.Wake.Equal(want) {
		t.Errorf("Wake = %s, want the link's staleness at %s", out.Wake.Sub(t0), want.Sub(t0))
	}

	in.Now = last.Add(in.staleAfter())
	st := commandsOf[*state.SetNodeStatus](Decide(in))
	if len(st) != 1 || st[0].Node != "lb1" || st[0].Status != state.NodeOffline {
		t.Fatalf("status commands %v; want lb1 offline once silent", st)
	}
	in.Data.Nodes["lb1"].Status = state.NodeOffline

	out = Decide(in)
	if len(commandsOf[*state.ClearHolder](out)) != 0 {
		t.Fatalf("released before its lease ran out: %v", out.Commands)
	}
	end := renewed.Add(tm.Lease + releaseMargin)
	if !out.Wake.Equal(end) {
		t.Errorf("Wake = %s, want the release at %s", out.Wake.Sub(t0), end.Sub(t0))
	}
	in.Now = end
	if cl := commandsOf[*state.ClearHolder](Decide(in)); len(cl) != 1 {
		t.Errorf("at the lease end: releases %v, want web released from lb1", cl)
	}
}

// A renewal or answer keeps the link fresh: no verdict, no release.
func TestAnsweringHolderStaysOnline(t *testing.T) {
	in := base()
	in.Now = t0.Add(time.Hour)
	in.Links["lb1"] = Link{OK: true, Answered: true, Since: t0, Last: in.Now.Add(-10 * time.Millisecond)}
	in.Members["lb1"] = *member(membership.StateAlive, t0)
	if out := Decide(in); len(out.Commands) != 0 {
		t.Errorf("commands %v for a node that answered 10 ms ago", out.Commands)
	}
}

func TestNextWake(t *testing.T) {
	now := t0
	for _, c := range []struct {
		wake time.Time
		poll bool
		want time.Duration
	}{
		{time.Time{}, true, idleTick},
		{now.Add(30 * time.Millisecond), true, 30 * time.Millisecond},
		{now.Add(time.Hour), true, idleTick},
		{now.Add(-time.Second), true, time.Millisecond},
		{time.Time{}, false, settledTick},
		{now.Add(300 * time.Millisecond), false, 300 * time.Millisecond},
		{now.Add(time.Hour), false, settledTick},
	} {
		if got := nextWake(now, c.wake, c.poll); got != c.want {
			t.Errorf("nextWake(%v, poll %v) = %s, want %s", c.wake.Sub(now), c.poll, got, c.want)
		}
	}
}

// A leader polls only while a link is not in contact: its first answer (or
// its return) is signalled by nothing. With every link answering it waits
// for events and for the instant the freshest link would go stale.
func TestPollOnlyWhileALinkIsNotInContact(t *testing.T) {
	in := base()
	in.Now = t0.Add(time.Hour)
	fresh := Link{OK: true, Answered: true, Since: t0, Last: in.Now.Add(-10 * time.Millisecond)}
	for name := range in.Links {
		in.Links[name] = fresh
		in.Members[name] = *member(membership.StateAlive, t0)
	}
	out := Decide(in)
	if out.Poll {
		t.Errorf("Poll with every link answering")
	}
	if want := fresh.Last.Add(in.staleAfter()); !out.Wake.Equal(want) {
		t.Errorf("Wake = %v, want the instant the links go stale %v", out.Wake, want)
	}
	for name, l := range map[string]Link{
		"never answered":   unknownLink,
		"heartbeat failed": {OK: false, Answered: true, Since: t0, Last: in.Now.Add(-10 * time.Millisecond)},
		"silent":           {OK: true, Answered: true, Since: t0, Last: in.Now.Add(-time.Hour)},
	} {
		in := base()
		in.Now = t0.Add(time.Hour)
		for n := range in.Links {
			in.Links[n] = fresh
			in.Members[n] = *member(membership.StateAlive, t0)
		}
		in.Links["lb2"] = l
		if !Decide(in).Poll {
			t.Errorf("%s: no Poll", name)
		}
	}
}

// A health move held back by min_move_interval is decided again when the
// interval ends, without a poll.
func TestHealthMoveWaitIsAWake(t *testing.T) {
	in := base()
	in.Now = t0.Add(time.Hour)
	gc := &in.Config.Groups[0]
	gc.MinMoveInterval = time.Minute
	g := in.Data.Groups[gc.Name]
	if g == nil {
		g = &state.Group{Name: gc.Name}
		in.Data.Groups[gc.Name] = g
	}
	g.LastHealthMove = in.Now.Add(-20 * time.Second)
	want := g.LastHealthMove.Add(time.Minute)
	if out := Decide(in); !out.Wake.Equal(want) {
		t.Errorf("Wake = %v, want %v", out.Wake, want)
	}
}

// The leader we replaced, silent since (a power-off fails no heartbeat for
// a transport timeout), is released prevLeaderWait after we took office: no
// failed heartbeat is needed, and Wake names the instant.
func TestSilentPreviousLeaderIsReleasedSoonAfterTheElection(t *testing.T) {
	in := base()
	in.Term.PrevLeader, in.Term.PrevContact = "lb1", t0.Add(-150*time.Millisecond)
	in.Links["lb1"] = unknownLink
	in.Members["lb1"] = *member(membership.StateAlive, t0.Add(-time.Hour))
	in.Now = t0.Add(10 * time.Millisecond)
	out := Decide(in)
	if len(out.Commands) != 0 {
		t.Fatalf("commands %v before prevLeaderWait", out.Commands)
	}
	at := t0.Add(max(prevLeaderWait, releaseMargin))
	if !out.Wake.Equal(t0.Add(prevLeaderWait)) {
		t.Errorf("Wake = %s, want %s", out.Wake.Sub(t0), prevLeaderWait)
	}
	in.Now = at
	cmds, _, _ := run(t, in)
	if len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 1 {
		t.Errorf("commands %v at %s after the election; want web released from lb1", cmds, at.Sub(t0))
	}
}
