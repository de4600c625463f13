package coordinator

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// t0 is when the leader "w" took office in these tests.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func fastTiming() configs.Timing {
	t, _ := configs.TimingPreset("fast") // lease 750ms, raft leader lease 150ms
	return t
}

// base is a healthy cluster led by the witness w: lb1 and lb2 online and
// answering, everyone alive on the heartbeat link, group web (prefer lb1,
// no failback) started on lb1; now is t0+10s.
func base() Input {
	cfg := &configs.Config{
		NodeName: "w",
		Cluster:  configs.Cluster{Timing: fastTiming()},
		Nodes:    []configs.Node{{Name: "lb1"}, {Name: "lb2"}, {Name: "w", Witness: true}},
		Groups:   []configs.Group{{Name: "web", Prefer: "lb1"}},
	}
	d := &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}}
	in := Input{Config: cfg, Data: d, Now: t0.Add(10 * time.Second), Term: Term{Since: t0},
		Links: map[string]Link{}, Members: map[string]membership.Member{}}
	for _, n := range cfg.Nodes {
		d.Nodes[n.Name] = &state.Node{Name: n.Name, Status: state.NodeOnline, Since: t0.Add(-time.Hour)}
		in.Members[n.Name] = membership.Member{Name: n.Name, State: membership.StateAlive, Since: t0.Add(-time.Hour)}
		if n.Name != "w" {
			in.Links[n.Name] = Link{OK: true, Answered: true, Since: t0}
		}
	}
	d.Groups["web"] = &state.Group{Name: "web", Node: "lb1", Holder: "lb1", Last: "lb1", State: state.GroupStarted, Epoch: 1}
	return in
}

func fencing(nodes ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range nodes {
			if x == n {
				return true
			}
		}
		return false
	}
}

// Link and heartbeat shapes for the tables.
var (
	upLink      = Link{OK: true, Answered: true, Since: t0}
	lostLink    = Link{OK: false, Answered: true, Since: t0.Add(2 * time.Second)}
	unknownLink = Link{OK: true, Since: t0} // no failure yet, but no answer either
	failedFirst = Link{OK: false, Since: t0}
)

func member(st membership.State, since time.Time) *membership.Member {
	return &membership.Member{Name: "lb1", State: st, Since: since}
}

func TestJudgeEveryLinkCombination(t *testing.T) {
	old := t0.Add(-time.Minute)
	cases := []struct {
		name   string
		link   *Link // nil: absent from the leader's view
		hb     *membership.Member
		cur    string // committed status ("" never seen)
		curWhy string
		now    time.Duration // after t0
		want   string
		why    string // substring of the reason
	}{
		{"both up", &upLink, member(membership.StateAlive, old), "online", "", 10, "online", ""},
		{"cluster up, heartbeat suspect", &upLink, member(membership.StateSuspect, old), "online", "", 10, "online", ""},
		{"cluster up, heartbeat dead: one signal", &upLink, member(membership.StateDead, old), "online", "", 10, "online", ""},
		{"cluster up, never on heartbeat", &upLink, nil, "", "", 10, "online", ""},
		{"cluster lost, heartbeat up: offline", &lostLink, member(membership.StateAlive, old), "online", "", 10, "offline", "heartbeat link still up"},
		{"cluster lost, heartbeat dead: failed", &lostLink, member(membership.StateDead, t0.Add(3*time.Second)), "online", "", 10, "failed", "lost on the heartbeat and cluster"},
		{"cluster lost, heartbeat absent: failed", &lostLink, nil, "online", "", 10, "failed", "lost on the heartbeat"},
		{"cluster lost, left: offline", &lostLink, member(membership.StateLeft, t0.Add(3*time.Second)), "online", "", 10, "offline", "left the cluster"},
		// Unknown: a link that never answered this leader.
		{"unknown, never seen: never joined", &unknownLink, nil, "", "", 10, "offline", neverJoined},
		{"unknown, heartbeat up, never seen: never joined", &unknownLink, member(membership.StateAlive, t0), "", "", 10, "offline", neverJoined},
		{"unknown after failed heartbeats, heartbeat dead: not failed", &failedFirst, member(membership.StateDead, t0.Add(time.Second)), "offline", neverJoined, 10, "offline", neverJoined},
		{"absent from the view: unknown, not up", nil, member(membership.StateAlive, old), "", "", 10, "offline", neverJoined},
		{"unknown, online before: kept within the lease window", &unknownLink, member(membership.StateDead, old), "online", "", 0, "online", ""},
		{"unknown, online before: offline after the lease window", &failedFirst, member(membership.StateDead, old), "online", "", 1, "offline", "not seen on the cluster link since w"},
		{"unknown, failed before: the old verdict stands", &failedFirst, member(membership.StateDead, old), "failed", "lost on both", 10, "failed", "lost on both"},
		{"unknown, offline before: stands", &unknownLink, member(membership.StateAlive, old), "offline", "cluster link lost", 10, "offline", "cluster link lost"},
		// Fenced stays fenced until back on both links, and on the heartbeat since the fence.
		{"fenced, links up from before the fence", &upLink, member(membership.StateAlive, old), "fenced", "by operator", 10, "fenced", "by operator"},
		{"fenced, back on both links", &upLink, member(membership.StateAlive, t0.Add(5*time.Second)), "fenced", "x", 10, "online", ""},
		{"fenced, heartbeat back, cluster unknown", &unknownLink, member(membership.StateAlive, t0.Add(5*time.Second)), "fenced", "x", 10, "fenced", "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			in.Now = t0.Add(c.now * time.Second)
			delete(in.Links, "lb1")
			if c.link != nil {
				in.Links["lb1"] = *c.link
			}
			delete(in.Members, "lb1")
			if c.hb != nil {
				in.Members["lb1"] = *c.hb
			}
			cur := &state.Node{Name: "lb1", Status: c.cur, Reason: c.curWhy, Since: t0.Add(time.Second)}
			got, why := in.judge("lb1", cur)
			if got != c.want || !strings.Contains(why, c.why) {
				t.Errorf("judge = %q (%q), want %q (%q)", got, why, c.want, c.why)
			}
		})
	}
}

// A fenced node powered on at once may never have been seen dead on the
// heartbeat link; a new agent start time proves the reboot.
func TestFencedNodeRebootedIsOnlineAgain(t *testing.T) {
	in := base()
	in.Now = t0.Add(10 * time.Second)
	in.Links["lb1"] = upLink
	m := member(membership.StateAlive, t0.Add(-time.Minute)) // alive since before the fence
	m.Meta.Extra = map[string]string{BootKey: "200"}
	in.Members["lb1"] = *m
	cur := &state.Node{Name: "lb1", Status: state.NodeFenced, Reason: "by operator", Since: t0.Add(time.Second), FencedBoot: "100"}
	if got, _ := in.judge("lb1", cur); got != state.NodeOnline {
		t.Errorf("rebooted after the fence: %q, want online", got)
	}
	cur.FencedBoot = "200" // the same agent as at the fence: stale observations
	if got, _ := in.judge("lb1", cur); got != state.NodeFenced {
		t.Errorf("same incarnation as at the fence: %q, want fenced", got)
	}
	cur.FencedBoot = "" // fenced before this was recorded: the heartbeat rule alone
	if got, _ := in.judge("lb1", cur); got != state.NodeFenced {
		t.Errorf("no recorded start time: %q, want fenced", got)
	}
}

func TestJudgeSelfAndPreviousLeader(t *testing.T) {
	in := base()
	if st, _ := in.judge("w", nil); st != state.NodeOnline {
		t.Errorf("the leader judges itself %q", st)
	}
	// lb1 led before w (a leadership transfer) and has not answered yet, but
	// no heartbeat to it failed either: for prevLeaderWait it is unknown and
	// nothing is decided on it.
	in.Term.PrevLeader, in.Term.PrevContact = "lb1", t0.Add(-300*time.Millisecond)
	in.Links["lb1"] = unknownLink
	in.Fenceable = fencing("lb1")
	in.Now = t0.Add(prevLeaderWait - time.Millisecond)
	if cmds, fences, _ := run(t, in); len(cmds) != 0 || len(fences) != 0 {
		t.Errorf("previous leader not answering yet: commands %v, fences %v", cmds, fences)
	}
	// Still no answer after prevLeaderWait (a silent power-off: no heartbeat
	// has failed yet): lost, as our election saw.
	in.Now = t0.Add(prevLeaderWait)
	if st, _ := in.judge("lb1", in.Data.Nodes["lb1"]); st == state.NodeOnline {
		t.Errorf("previous leader silent for prevLeaderWait: still %q", st)
	}
	// A heartbeat to it failed and it never answered w: the election itself
	// saw it lost.
	in.Links["lb1"] = failedFirst
	in.Members["lb1"] = *member(membership.StateDead, t0.Add(200*time.Millisecond))
	if st, why := in.judge("lb1", in.Data.Nodes["lb1"]); st != state.NodeFailed {
		t.Errorf("previous leader lost on both links: %q (%s), want failed", st, why)
	}
}

func commandsOf[T state.Command](out Output) []T {
	var got []T
	for _, c := range out.Commands {
		if x, ok := c.(T); ok {
			got = append(got, x)
		}
	}
	return got
}

// run applies Decide's steps to a copy of the state the way the driver does
// (through the real state machine) and returns every command and fence.
func run(t *testing.T, in Input) ([]state.Command, []FenceRequest, map[string]string) {
	t.Helper()
	fsm := newFSM(t, in.Data)
	var idx uint64
	applyAll := func(cmds []state.Command) {
		for _, c := range cmds {
			b, err := state.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			idx++
			if err := applyLog(fsm, idx, b); err != nil && !errors.Is(err, state.ErrHeld) {
				t.Fatalf("apply %T: %v", c, err)
			}
		}
	}
	var all []state.Command
	var fences []FenceRequest
	for range maxSteps {
		in.Data = fsm.Read()
		out := Decide(in)
		fences = append(fences, out.Fences...)
		if len(out.Fences) > 0 { // the driver starts them
			f := map[string]FenceState{}
			for k, v := range in.Fences {
				f[k] = v
			}
			for _, r := range out.Fences {
				f[r.Node] = FenceState{InFlight: true, Started: in.Now}
			}
			in.Fences = f
		}
		if len(out.Commands) == 0 {
			return all, fences, out.Why
		}
		all = append(all, out.Commands...)
		applyAll(out.Commands)
		for _, c := range out.Commands {
			if m, ok := c.(*state.SetMaintenance); ok && m.On {
				in.StartupMaintenance = false
			}
		}
	}
	t.Fatalf("no fixed point after %d steps: %v", maxSteps, all)
	return nil, nil, nil
}

func TestLateNodeIsNeitherFailedNorFencedNorPlacedUntilItJoins(t *testing.T) {
	// lb2 and the witness started first; lb1 is still booting: never seen.
	in := base()
	in.Data = &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}}
	in.Links["lb1"] = failedFirst
	delete(in.Members, "lb1")
	in.Fenceable = fencing("lb1", "lb2")
	cmds, fences, _ := run(t, in)
	if len(fences) > 0 {
		t.Errorf("fenced a node never seen: %v", fences)
	}
	var assigned []string
	for _, c := range cmds {
		switch c := c.(type) {
		case *state.SetNodeStatus:
			if c.Node == "lb1" && c.Status != state.NodeOffline {
				t.Errorf("lb1 judged %s (%s) before it ever answered", c.Status, c.Reason)
			}
		case *state.Assign:
			assigned = append(assigned, c.Node)
		}
	}
	if len(assigned) != 1 || assigned[0] != "lb2" {
		t.Fatalf("assignments %v; want web on lb2 only (lb1 preferred, but it has not joined)", assigned)
	}

	// lb1 answers: it is online, and web stays on lb2 (failback = false).
	in.Links["lb1"] = upLink
	in.Members["lb1"] = *member(membership.StateAlive, t0.Add(5*time.Second))
	in.Data = &state.Data{Nodes: map[string]*state.Node{
		"lb1": {Name: "lb1", Status: state.NodeOffline, Reason: neverJoined},
		"lb2": {Name: "lb2", Status: state.NodeOnline}, "w": {Name: "w", Status: state.NodeOnline}},
		Groups: map[string]*state.Group{"web": {Name: "web", Node: "lb2", Holder: "lb2", Last: "lb2", State: state.GroupStarted, Epoch: 1}}}
	cmds, fences, _ = run(t, in)
	if len(fences) > 0 || len(commandsOf[*state.Assign](Output{Commands: cmds})) > 0 {
		t.Errorf("after lb1 joined: commands %v, fences %v; want lb1 online and nothing else", cmds, fences)
	}
	if st := commandsOf[*state.SetNodeStatus](Output{Commands: cmds}); len(st) != 1 || st[0].Status != state.NodeOnline {
		t.Errorf("after lb1 joined: status commands %v", st)
	}
}

func TestGroupStaysOnNodeThatHasNotAnsweredYet(t *testing.T) {
	// Right after an election nobody has answered the new leader yet: the
	// group on lb1 must not be stopped for that.
	in := base()
	in.Now = t0.Add(20 * time.Millisecond)
	in.Links["lb1"], in.Links["lb2"] = unknownLink, unknownLink
	cmds, fences, _ := run(t, in)
	if len(cmds) != 0 || len(fences) != 0 {
		t.Errorf("commands %v, fences %v; want none while links are unknown", cmds, fences)
	}
}

func TestHolderLostOnBothLinksIsFencedBeforeRecovery(t *testing.T) {
	in := base()
	in.Fenceable = fencing("lb1", "lb2")
	in.Links["lb1"] = lostLink
	in.Members["lb1"] = *member(membership.StateDead, t0.Add(3*time.Second))
	cmds, fences, why := run(t, in)
	if len(fences) != 1 || fences[0].Node != "lb1" || !strings.Contains(fences[0].Reason, "lost while holding web") {
		t.Fatalf("fences %v; want lb1 for web", fences)
	}
	for _, c := range cmds {
		if a, ok := c.(*state.Assign); ok && a.Node != "" {
			t.Errorf("group moved before the fence: %+v", a)
		}
		if _, ok := c.(*state.ClearHolder); ok {
			t.Errorf("group released before the fence: %+v", c)
		}
	}
	if !strings.Contains(why["web"], "waiting for lb1 to be fenced") {
		t.Errorf("why = %q", why["web"])
	}

	// The fence is in flight, then it failed: no new attempt until the back-off ends.
	in.Fences = map[string]FenceState{"lb1": {InFlight: true, Started: in.Now.Add(-1500 * time.Millisecond)}}
	if _, fences, why = run(t, in); len(fences) != 0 || !strings.Contains(why["web"], "fencing in progress for 1.5s") {
		t.Errorf("in flight: fences %v, why %q", fences, why["web"])
	}
	in.Fences = map[string]FenceState{"lb1": fenceEnded(FenceState{InFlight: true}, in.Now, errors.New("bmc timeout"))}
	if _, fences, why = run(t, in); len(fences) != 0 || !strings.Contains(why["web"], "bmc timeout") || !strings.Contains(why["web"], "next attempt in 1s") {
		t.Errorf("backing off: fences %v, why %q", fences, why["web"])
	}
	in.Now = in.Now.Add(time.Second)
	if _, fences, _ = run(t, in); len(fences) != 1 {
		t.Errorf("after the back-off: fences %v, want a new attempt", fences)
	}

	// Fenced: released, then placed on lb2.
	in.Fences = nil
	in.Data.Nodes["lb1"].Status, in.Data.Nodes["lb1"].Since = state.NodeFenced, in.Now
	cmds, _, _ = run(t, in)
	cl := commandsOf[*state.ClearHolder](Output{Commands: cmds})
	as := commandsOf[*state.Assign](Output{Commands: cmds})
	if len(cl) != 1 || len(as) != 1 || as[0].Node != "lb2" {
		t.Errorf("after the fence: commands %v; want release from lb1 then web on lb2", cmds)
	}
}

func TestReleaseAfterLeaseWithoutFencing(t *testing.T) {
	in := base()
	in.Links["lb1"] = lostLink // last contact t0+2s
	in.Members["lb1"] = *member(membership.StateDead, t0.Add(3*time.Second))
	lease := in.Config.Cluster.Timing.Lease
	in.Now = t0.Add(2*time.Second + lease) // not yet: the release margin
	cmds, _, why := run(t, in)
	if len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 0 {
		t.Fatalf("released before the lease ran out: %v", cmds)
	}
	if !strings.Contains(why["web"], "lease to run out") {
		t.Errorf("why = %q", why["web"])
	}
	in.Now = t0.Add(2*time.Second + lease + releaseMargin)
	cmds, fences, _ := run(t, in)
	as := commandsOf[*state.Assign](Output{Commands: cmds})
	if len(fences) != 0 || len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 1 || len(as) != 1 || as[0].Node != "lb2" {
		t.Errorf("after the lease: commands %v, fences %v", cmds, fences)
	}
}

func TestCutOffOnClusterLinkOnlyIsFencedAfterLease(t *testing.T) {
	in := base()
	in.Fenceable = fencing("lb1")
	in.Links["lb1"] = lostLink
	in.Now = t0.Add(2*time.Second + in.Config.Cluster.Timing.Lease + releaseMargin)
	_, fences, _ := run(t, in)
	if len(fences) != 1 || !strings.Contains(fences[0].Reason, "its lease ran out") {
		t.Errorf("fences %v; want lb1 once its lease ran out", fences)
	}
	in.Now = t0.Add(2 * time.Second)
	if _, fences, _ = run(t, in); len(fences) != 0 {
		t.Errorf("fenced before its lease ran out: %v", fences)
	}
}

func TestHolderNeverSeenByThisLeaderIsReleasedAfterLeaseNotFenced(t *testing.T) {
	// The whole cluster restarted; lb1 held web and has not come back.
	in := base()
	in.Fenceable = fencing("lb1", "lb2")
	in.Links["lb1"] = failedFirst
	delete(in.Members, "lb1")
	in.Now = t0.Add(200 * time.Millisecond)
	cmds, fences, _ := run(t, in)
	if len(cmds) != 0 || len(fences) != 0 {
		t.Fatalf("within the lease window: commands %v, fences %v", cmds, fences)
	}
	in.Now = t0.Add(in.Config.Cluster.Timing.Lease + releaseMargin)
	cmds, fences, _ = run(t, in)
	if len(fences) != 0 {
		t.Errorf("fenced a node never seen since the leader took office: %v", fences)
	}
	cl := commandsOf[*state.ClearHolder](Output{Commands: cmds})
	if len(cl) != 1 || !strings.Contains(cl[0].Reason, "not fenced") {
		t.Errorf("releases %v; want web released from lb1 without a fence", cl)
	}
	if as := commandsOf[*state.Assign](Output{Commands: cmds}); len(as) != 1 || as[0].Node != "lb2" {
		t.Errorf("assignments %v; want web on lb2", as)
	}
	// Seen on the heartbeat link after the leader took office: fenced.
	in.Members["lb1"] = *member(membership.StateDead, t0.Add(100*time.Millisecond))
	if _, fences, _ = run(t, in); len(fences) != 1 {
		t.Errorf("fences %v; want lb1 (alive on the heartbeat link after the election)", fences)
	}
}

func TestPreviousLeaderIsReleasedAfterItsLeaderLease(t *testing.T) {
	in := base()
	in.Term.PrevLeader, in.Term.PrevContact = "lb1", t0.Add(-300*time.Millisecond)
	in.Links["lb1"] = failedFirst
	in.Members["lb1"] = *member(membership.StateAlive, t0.Add(-time.Hour))
	// Its lease as leader ended a leader lease after its last quorum
	// acknowledgement, which was at least a heartbeat timeout (>= leader
	// lease) before our election: only the release margin is left.
	in.Now = t0.Add(releaseMargin - time.Millisecond)
	if cmds, _, _ := run(t, in); len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 0 {
		t.Fatalf("released within the release margin after our election: %v", cmds)
	}
	in.Now = t0.Add(releaseMargin)
	cmds, _, _ := run(t, in)
	if len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 1 {
		t.Errorf("commands %v; want web released once the old leader's leader lease ran out", cmds)
	}
	// With fencing it is fenced (the election saw it lost), not released.
	in.Fenceable = fencing("lb1")
	cmds, fences, _ := run(t, in)
	if len(fences) != 1 || len(commandsOf[*state.ClearHolder](Output{Commands: cmds})) != 0 {
		t.Errorf("fencing configured: commands %v, fences %v; want a fence of lb1", cmds, fences)
	}
}

// A leader elected by a leadership transfer from lb1 (lb1 told it to take
// over at t0-20ms): lb1 keeps its lease for up to a leader lease after it
// started the transfer, so its groups wait for that, not only for the
// release margin after the election.
func TestPreviousLeaderThatHandedOverKeepsItsLeaderLease(t *testing.T) {
	in := base()
	in.Term.PrevLeader, in.Term.PrevContact = "lb1", t0.Add(-20*time.Millisecond)
	in.Term.HandedOverAt = t0.Add(-20 * time.Millisecond)
	in.Links["lb1"] = failedFirst
	in.Members["lb1"] = *member(membership.StateAlive, t0.Add(-time.Hour))
	released := func() int {
		cmds, _, _ := run(t, in)
		return len(commandsOf[*state.ClearHolder](Output{Commands: cmds}))
	}
	end := in.Term.HandedOverAt.Add(in.Config.Cluster.Timing.RaftLeaderLease + releaseMargin)
	if !end.After(t0.Add(releaseMargin)) {
		t.Fatalf("test timing: a leader lease (%v) must outlast the 20 ms", in.Config.Cluster.Timing.RaftLeaderLease)
	}
	in.Now = end.Add(-time.Millisecond)
	if n := released(); n != 0 {
		t.Fatalf("released %d groups before lb1's leader lease from its transfer ran out", n)
	}
	in.Now = end
	if n := released(); n != 1 {
		t.Errorf("released %d groups once lb1's leader lease from its transfer ran out, want 1", n)
	}
	// A takeover request long before the election changes nothing.
	in.Term.HandedOverAt = t0.Add(-time.Hour)
	in.Now = t0.Add(releaseMargin)
	if n := released(); n != 1 {
		t.Errorf("old takeover request: released %d groups after the release margin, want 1", n)
	}
}

func TestBlockedGroupFencesItsNode(t *testing.T) {
	for _, c := range []struct {
		name      string
		setup     func(*Input)
		wantFence bool
	}{
		{"blocked on lb1", func(*Input) {}, true},
		{"cluster maintenance", func(in *Input) { in.Data.Maintenance = true }, false},
		{"group maintenance", func(in *Input) { in.Data.Groups["web"].Maintenance = true }, false},
		{"no fence device", func(in *Input) { in.Fenceable = fencing("lb2") }, false},
		{"blocked on the leader itself", func(in *Input) { in.Config.NodeName = "lb1" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			in.Fenceable = fencing("lb1", "lb2")
			in.Data.Groups["web"].State, in.Data.Groups["web"].Reason = state.GroupBlocked, "stop failed"
			c.setup(&in)
			_, fences := releases(in, map[string]string{})
			if got := len(fences) == 1 && strings.Contains(fences[0].Reason, "blocked"); got != c.wantFence {
				t.Errorf("fences %v, want fence %v", fences, c.wantFence)
			}
		})
	}
}

func TestStandbyLeavingPinAndMaintenance(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*Input)
		want  []string // assignments in order ("" = stop; the new node waits for the stop)
	}{
		{"steady", func(*Input) {}, nil},
		{"standby moves the group", func(in *Input) { in.Data.Nodes["lb1"].Standby = true }, []string{""}},
		{"leaving moves the group", func(in *Input) { in.Data.Nodes["lb1"].Leaving = true }, []string{""}},
		{"pin moves the group", func(in *Input) { in.Data.Groups["web"].MovedTo = "lb2" }, []string{""}},
		{"pin to a node that has not joined waits", func(in *Input) {
			in.Data.Groups["web"].MovedTo = "lb2"
			in.Links["lb2"] = unknownLink
		}, nil},
		{"cluster maintenance: hands off", func(in *Input) {
			in.Data.Maintenance = true
			in.Data.Nodes["lb1"].Standby = true
		}, nil},
		{"group maintenance: hands off", func(in *Input) {
			in.Data.Groups["web"].Maintenance = true
			in.Data.Nodes["lb1"].Standby = true
		}, nil},
		{"start-up maintenance comes first", func(in *Input) {
			in.StartupMaintenance = true
			in.Data.Nodes["lb1"].Standby = true
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.setup(&in)
			cmds, _, _ := run(t, in)
			var got []string
			for _, a := range commandsOf[*state.Assign](Output{Commands: cmds}) {
				got = append(got, a.Node)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("assignments %q, want %q (commands %v)", got, c.want, cmds)
			}
		})
	}
}

func TestStartupMaintenanceIsCommittedBeforeAnythingElse(t *testing.T) {
	in := base()
	in.Data = &state.Data{Nodes: map[string]*state.Node{}, Groups: map[string]*state.Group{}}
	in.StartupMaintenance = true
	out := Decide(in)
	if len(out.Commands) != 1 {
		t.Fatalf("first step %v; want only the maintenance", out.Commands)
	}
	if m, ok := out.Commands[0].(*state.SetMaintenance); !ok || !m.On || m.Group != "" {
		t.Fatalf("first step %+v; want cluster maintenance on", out.Commands[0])
	}
	cmds, _, _ := run(t, in)
	if as := commandsOf[*state.Assign](Output{Commands: cmds}); len(as) != 0 {
		t.Errorf("first start in maintenance placed %v", as)
	}
	// Already on (the operator did it): nothing to commit for it.
	in.Data.Maintenance = true
	if out := Decide(in); len(commandsOf[*state.SetMaintenance](out)) != 0 {
		t.Errorf("maintenance committed again: %v", out.Commands)
	}
}

func TestLeavingMarkClearedForNewIncarnationOnly(t *testing.T) {
	leftAt := t0.Add(-time.Minute)
	boot := func(at time.Time) map[string]string {
		return map[string]string{BootKey: strconv.FormatInt(at.UnixNano(), 10)}
	}
	cases := []struct {
		name  string
		setup func(*Input)
		clear bool
	}{
		{"restarted after the mark", func(in *Input) {}, true},
		{"same incarnation (still shutting down)", func(in *Input) {
			m := in.Members["lb1"]
			m.Meta.Extra = boot(leftAt.Add(-time.Hour))
			in.Members["lb1"] = m
		}, false},
		{"no boot time gossiped", func(in *Input) {
			m := in.Members["lb1"]
			m.Meta.Extra = nil
			in.Members["lb1"] = m
		}, false},
		{"not answering the leader yet", func(in *Input) { in.Links["lb1"] = unknownLink }, false},
		{"dead on the heartbeat link", func(in *Input) {
			m := in.Members["lb1"]
			m.State = membership.StateDead
			in.Members["lb1"] = m
		}, false},
		{"mark without a time (older version)", func(in *Input) { in.Data.Nodes["lb1"].LeavingSince = time.Time{} }, false},
		// The mark names the incarnation that set it: the clocks do not
		// matter (after a reboot the node's clock may run behind).
		{"restarted, its clock now behind the mark's", func(in *Input) {
			in.Data.Nodes["lb1"].LeavingBoot = boot(leftAt.Add(-time.Hour))[BootKey]
			m := in.Members["lb1"]
			m.Meta.Extra = boot(leftAt.Add(-time.Minute))
			in.Members["lb1"] = m
		}, true},
		{"the incarnation that set the mark, its clock ahead", func(in *Input) {
			in.Data.Nodes["lb1"].LeavingBoot = boot(leftAt.Add(time.Hour))[BootKey]
			m := in.Members["lb1"]
			m.Meta.Extra = boot(leftAt.Add(time.Hour))
			in.Members["lb1"] = m
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			in.Data.Nodes["lb1"].Leaving, in.Data.Nodes["lb1"].LeavingSince = true, leftAt
			in.Data.Groups["web"] = &state.Group{Name: "web", Node: "lb2", Holder: "lb2", Last: "lb2", State: state.GroupStarted}
			m := in.Members["lb1"]
			m.Meta.Extra = boot(leftAt.Add(5 * time.Second))
			in.Members["lb1"] = m
			c.setup(&in)
			cmds, _, _ := run(t, in)
			got := commandsOf[*state.SetLeaving](Output{Commands: cmds})
			if cleared := len(got) == 1 && !got[0].Leaving && got[0].Node == "lb1"; cleared != c.clear {
				t.Errorf("leaving commands %v, want cleared %v", got, c.clear)
			}
		})
	}
}

func TestFailuresExpire(t *testing.T) {
	in := base()
	in.Config.Groups[0].FailureTimeout = time.Minute
	in.Data.Groups["web"].Resources = map[string]*state.Resource{
		"vip": {FailCount: map[string]int{"lb1": 1}, LastFailAt: in.Now.Add(-2 * time.Minute)},
	}
	cmds, _, _ := run(t, in)
	if cl := commandsOf[*state.Cleanup](Output{Commands: cmds}); len(cl) != 1 || !strings.Contains(cl[0].Message, "expired") {
		t.Errorf("cleanups %v; want the old failure forgotten", cl)
	}
	in.Data.Groups["web"].Resources["vip"].LastFailAt = in.Now.Add(-time.Second)
	if cmds, _, _ := run(t, in); len(commandsOf[*state.Cleanup](Output{Commands: cmds})) != 0 {
		t.Errorf("a fresh failure expired: %v", cmds)
	}
}

func TestHealthFactsFromMetadata(t *testing.T) {
	in := base()
	m := in.Members["lb1"]
	m.Meta = membership.Meta{Health: map[string]bool{"web": false, "": true}, Extra: map[string]string{FailingPrefix + "web": "site"}}
	in.Members["lb1"] = m
	d := in.Members["lb2"]
	d.State, d.Meta = membership.StateDead, membership.Meta{Health: map[string]bool{"web": false}}
	in.Members["lb2"] = d
	f := facts(in)
	if f.Healthy["lb1"]["web"] || !f.NodeHealthy["lb1"] || f.Failing["lb1"]["web"] != "site" {
		t.Errorf("lb1 facts: %+v", f)
	}
	if _, ok := f.Healthy["lb2"]; ok {
		t.Errorf("a dead node's health counted: %+v", f.Healthy)
	}
	cmds, _, _ := run(t, in)
	if as := commandsOf[*state.Assign](Output{Commands: cmds}); len(as) != 1 || as[0].Node != "" || !as[0].Health {
		t.Errorf("assignments %v; want web stopped on lb1 for health", as)
	}
}

func TestFenceBackoffGrowsAndIsCapped(t *testing.T) {
	var got []time.Duration
	for i := 1; i <= 8; i++ {
		got = append(got, fenceBackoff(i))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("back-off %v, want %v seconds", got, want)
		}
	}
	f := fenceEnded(FenceState{InFlight: true}, t0, errors.New("x"))
	f = fenceEnded(f, t0.Add(time.Second), errors.New("x"))
	if f.Failures != 2 || f.Next != t0.Add(3*time.Second) || f.InFlight {
		t.Errorf("after two failures: %+v", f)
	}
	if f = fenceEnded(f, t0.Add(10*time.Minute), errors.New("x")); f.Failures != 1 {
		t.Errorf("failures long ago still count: %+v", f)
	}
	if f = fenceEnded(f, t0, nil); f != (FenceState{}) {
		t.Errorf("a success leaves %+v", f)
	}
}

func TestLinkStateNames(t *testing.T) {
	if linkUnknown.String() != "unknown" || linkOK.String() != "ok" || linkLost.String() != "lost" {
		t.Error("link state names")
	}
}
