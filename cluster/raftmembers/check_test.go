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
