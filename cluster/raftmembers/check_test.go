package raftmembers

import (
	"strings"
	"testing"
)

func three() []Server {
	return []Server{{"n1", "a1", true}, {"n2", "a2", true}, {"w", "a3", true}}
}

func TestRemoveDeadWitnessKeepsMajority(t *testing.T) {
	v, err := Check(three(), "n1", map[string]bool{"n2": true}, Change{Op: "remove", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Voters, ",") != "n1,n2" || v.Warning == "" {
		t.Fatalf("%+v: want n1,n2 with an even-voters warning", v)
	}
}

func TestRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		live map[string]bool
		c    Change
		want string
	}{
		// n2 and w both absent: removing w leaves n1,n2 with only n1 up.
		"remove leaves no majority": {map[string]bool{}, Change{Op: "remove", ID: "w"}, "needs 2 in contact"},
		// Unknown is not alive: n2 never answered this leader.
		"unknown is absent":     {nil, Change{Op: "add", ID: "n4", Address: "a4"}, "only 1"},
		"leader removes itself": {map[string]bool{"n2": true, "w": true}, Change{Op: "remove", ID: "n1"}, "leader transfer"},
		// 3 -> 4 voters with w down: 2 of 4 up is no majority.
		"add while one is down": {map[string]bool{"n2": true}, Change{Op: "add", ID: "n4", Address: "a4"}, "needs 3"},
	} {
		_, err := Check(three(), "n1", tc.live, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// After `vigil recover` one voter is left: a second can join only as a
// non-voter first, and becomes a voter once it has answered at its address.
func TestGrowFromOneThroughANonvoter(t *testing.T) {
	one := []Server{{"n1", "a1", true}}
	add := Change{Op: "add", ID: "w", Address: "a3"}
	if _, err := Check(one, "n1", nil, add); err == nil || !strings.Contains(err.Error(), "needs 2") {
		t.Fatalf("1 -> 2 at once: %v, want refused", err)
	}
	if !CatchUpFirst(one, "n1", nil, add) {
		t.Fatal("CatchUpFirst(1 -> 2) = false")
	}
	joined := append(one, Server{"w", "a3", false})
	if _, err := Check(joined, "n1", map[string]bool{}, add); err == nil {
		t.Fatal("promoted before it answered")
	}
	if _, err := Check(joined, "n1", map[string]bool{"w": true}, Change{Op: "add", ID: "w", Address: "a9"}); err == nil {
		t.Fatal("promoted at another address than the one that answered")
	}
	v, err := Check(joined, "n1", map[string]bool{"w": true}, add)
	if err != nil || strings.Join(v.Voters, ",") != "n1,w" || v.Warning == "" {
		t.Fatalf("promotion once it answered: %+v %v", v, err)
	}
	// A voter readdressed (a replaced machine) is never joined as a
	// non-voter first: it is refused as before when it would not count.
	if CatchUpFirst([]Server{{"n1", "a1", true}, {"w", "a3", true}}, "n1", nil, Change{Op: "add", ID: "w", Address: "a9"}) {
		t.Fatal("CatchUpFirst for a voter given a new address")
	}
	// 3 -> 4 with one down and the new node not enough either way.
	if CatchUpFirst(three(), "n1", map[string]bool{}, Change{Op: "add", ID: "n4", Address: "a4"}) {
		t.Fatal("CatchUpFirst with two of four in contact even after the catch-up")
	}
}

func TestGrowToFiveAndReplace(t *testing.T) {
	live := map[string]bool{"n2": true, "w": true}
	s := three()
	v, err := Check(s, "n1", live, Change{Op: "add", ID: "n4", Address: "a4"})
	if err != nil || len(v.Voters) != 4 || v.Warning == "" {
		t.Fatalf("3 -> 4: %+v %v", v, err)
	}
	s = append(s, Server{"n4", "a4", true})
	live["n4"] = true
	v, err = Check(s, "n1", live, Change{Op: "add", ID: "n5", Address: "a5"})
	if err != nil || len(v.Voters) != 5 || v.Warning != "" {
		t.Fatalf("4 -> 5: %+v %v", v, err)
	}
	// The witness replaced by a machine with a new address: same name.
	live["w"] = false
	v, err = Check(three(), "n1", map[string]bool{"n2": true}, Change{Op: "add", ID: "w", Address: "a9"})
	if err != nil || len(v.Voters) != 3 || v.NoOp {
		t.Fatalf("readdress w: %+v %v", v, err)
	}
	if v, err := Check(three(), "n1", nil, Change{Op: "add", ID: "w", Address: "a3"}); err != nil || !v.NoOp {
		t.Fatalf("add of an existing voter: %+v %v", v, err)
	}
}

func TestDisagreement(t *testing.T) {
	if d := Disagreement(three(), []string{"n1", "n2", "w"}); d != "" {
		t.Fatal(d)
	}
	d := Disagreement(three()[:2], []string{"n1", "n2", "w"})
	if !strings.Contains(d, "configured but not raft voters: w") {
		t.Fatal(d)
	}
	d = Disagreement(append(three(), Server{"old", "x", true}), []string{"n1", "n2", "w"})
	if !strings.Contains(d, "raft voters missing from the configuration: old") {
		t.Fatal(d)
	}
}
