package consensus

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/raftmembers"
)

func TestPlanRecovery(t *testing.T) {
	v := func(id string) raft.Server {
		return raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":7300")}
	}
	three := []raft.Server{v("lb1"), v("lb2"), v("w")}
	five := []raft.Server{v("a"), v("b"), v("c"), v("d"), v("e"), {Suffrage: raft.Nonvoter, ID: "f", Address: "f:7300"}}
	for _, c := range []struct {
		name    string
		servers []raft.Server
		self    string
		keep    []string
		voters  []string // kept, on success
		dropped []string
		refused string // part of the error
	}{
		{name: "one of three", servers: three, self: "lb1", keep: []string{"lb1"}, voters: []string{"lb1"}, dropped: []string{"lb2", "w"}},
		{name: "two of five, a non-voter dropped too", servers: five, self: "b", keep: []string{"d", "b"},
			voters: []string{"b", "d"}, dropped: []string{"a", "c", "e", "f"}},
		{name: "a majority elects without it", servers: three, self: "lb1", keep: []string{"lb1", "w"}, refused: "majority"},
		{name: "three of five is a majority", servers: five, self: "a", keep: []string{"a", "b", "c"}, refused: "majority"},
		{name: "every voter kept", servers: []raft.Server{v("lb1")}, self: "lb1", keep: []string{"lb1"}, refused: "nothing to recover"},
		{name: "this node not kept", servers: three, self: "lb1", keep: []string{"lb2"}, refused: "this node (lb1)"},
		{name: "unknown name", servers: three, self: "lb1", keep: []string{"lb1", "lb3"}, refused: `"lb3" is not a voter`},
		{name: "a non-voter kept", servers: five, self: "a", keep: []string{"a", "f"}, refused: `"f" is not a voter`},
		{name: "named twice", servers: five, self: "a", keep: []string{"a", "a"}, refused: "named twice"},
		{name: "nothing kept", servers: three, self: "lb1", keep: nil, refused: "this node"},
		{name: "no voters stored", servers: nil, self: "lb1", keep: []string{"lb1"}, refused: "no voters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf, dropped, err := PlanRecovery(c.servers, c.self, c.keep)
			if c.refused != "" {
				if !errors.Is(err, ErrRecover) || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("err = %v, want ErrRecover saying %q", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range conf.Servers {
				if s.Suffrage != raft.Voter || string(s.Address) != string(s.ID)+":7300" {
					t.Errorf("server %+v: want a voter at its stored address", s)
				}
				got = append(got, string(s.ID))
			}
			if !slices.Equal(got, c.voters) || !slices.Equal(dropped, c.dropped) {
				t.Fatalf("voters %v dropped %v, want %v and %v", got, dropped, c.voters, c.dropped)
			}
		})
	}
}

// Three voters lose two for good: the survivor cannot elect; its stores,
// opened while it is stopped (and only then), are rewritten to itself
// alone; started again, it leads alone with nothing lost or applied twice.
func TestRecoverFromALostMajority(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)
	if _, err := leader.node.Apply([]byte("a"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, nodes, "a")
	survivor := nodes[0]
	for _, n := range nodes[1:] {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the survivor not to lead", func() bool { return !survivor.node.IsLeader() })

	offCfg := survivor.cfg
	offCfg.ScratchFSM = func() raft.FSM { return &testFSM{} }
	if _, err := OpenOffline(offCfg); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("OpenOffline while the node runs: %v, want the store locked", err)
	}
	if err := survivor.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOffline(Config{NodeID: "n1", DataDir: t.TempDir(), ScratchFSM: offCfg.ScratchFSM}); !errors.Is(err, ErrRecover) ||
		!strings.Contains(err.Error(), "no raft state") {
		t.Fatalf("OpenOffline of an empty dir: %v, want ErrRecover", err)
	}

	off, err := OpenOffline(offCfg)
	if err != nil {
		t.Fatal(err)
	}
	servers, err := off.Servers()
	if err != nil {
		t.Fatal(err)
	}
	conf, dropped, err := PlanRecovery(servers, survivor.id, []string{survivor.id})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dropped, []string{"n2", "n3"}) {
		t.Fatalf("dropped %v, want [n2 n3]", dropped)
	}
	if err := off.Recover(conf); err != nil {
		t.Fatal(err)
	}
	if err := off.Close(); err != nil {
		t.Fatal(err)
	}

	survivor = start(t, survivor.cfg)
	waitFor(t, 10*time.Second, "the recovered node to lead alone", survivor.node.IsLeader)
	if m, _ := survivor.node.Membership(); !slices.Equal(m.Voters, []string{"n1"}) || len(m.Nonvoters) > 0 {
		t.Fatalf("membership after recovery %+v, want n1 alone", m)
	}
	if _, err := survivor.node.Apply([]byte("b"), 5*time.Second); err != nil {
		t.Fatalf("Apply alone: %v", err)
	}
	waitFor(t, 5*time.Second, "b applied", func() bool { return survivor.fsm.has("b") })
	if got := survivor.fsm.list(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("FSM after recovery %v, want [a b] (nothing lost, nothing applied twice)", got)
	}

	// n3 comes back as a new machine (empty data dir). One voter in
	// contact cannot take a second at once (a majority of two is two): it
	// joins as a non-voter and is promoted once it has answered.
	back := nodes[2].cfg
	back.DataDir = t.TempDir()
	n3 := start(t, back)
	v, err := survivor.node.ChangeVoters(raftmembers.Change{Op: "add", ID: "n3", Address: back.BindAddr}, 10*time.Second)
	if err != nil || !slices.Equal(v.Voters, []string{"n1", "n3"}) {
		t.Fatalf("add n3: %+v %v", v, err)
	}
	if _, err := survivor.node.Apply([]byte("c"), 5*time.Second); err != nil {
		t.Fatalf("Apply with n3 a voter: %v", err)
	}
	waitFor(t, 10*time.Second, "n3 to have the whole state", func() bool { return n3.fsm.has("a") && n3.fsm.has("c") })
}
