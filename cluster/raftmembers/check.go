// Package raftmembers decides whether a change of the raft voter set is
// safe (`vigil node add|remove`): a change is refused when the voters this
// leader is in contact with would not be a majority of the new voter set,
// because raft could then commit nothing (and the cluster could not fail
// over) until an absent voter returns. It is pure: the leader's current
// configuration and its contacts come in, a verdict goes out.
package raftmembers

import (
	"fmt"
	"sort"
	"strings"
)

// Server is one raft server.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Change is what the leader will do.
type Change struct {
	Op      string // "add" | "remove"
	ID      string
	Address string // add only
}

// Verdict is the outcome of Check.
type Verdict struct {
	// NoOp: the configuration already is what was asked.
	NoOp bool
	// Voters is the voter set after the change, sorted.
	Voters []string
	// Warning is set when the change is allowed but leaves an even number
	// of voters (DESIGN.md invariant 5): losing one more voter then stops
	// failover. Growing 3 -> 5 passes through 4 for a moment.
	Warning string
}

// Check decides whether c may be applied to servers by leader, given the
// voters it is in contact with now (live; the leader counts itself).
// Unknown is not live: a voter that has not answered this leader counts
// as absent.
func Check(servers []Server, leader string, live map[string]bool, c Change) (Verdict, error) {
	cur := map[string]Server{}
	for _, s := range servers {
		cur[s.ID] = s
	}
	next := map[string]bool{}
	for _, s := range servers {
		if s.Voter {
			next[s.ID] = true
		}
	}
	var v Verdict
	switch c.Op {
	case "add":
		if c.ID == "" || c.Address == "" {
			return v, fmt.Errorf("node add needs a name and an address")
		}
		if s, ok := cur[c.ID]; ok && s.Voter && s.Address == c.Address {
			v.NoOp = true
		}
		next[c.ID] = true
	case "remove":
		s, ok := cur[c.ID]
		if !ok {
			v.NoOp = true
			break
		}
		if c.ID == leader {
			return v, fmt.Errorf("%s leads the cluster: hand leadership over first (`vigil leader transfer`), then remove it from the new leader", c.ID)
		}
		if s.Voter {
			delete(next, c.ID)
		}
	default:
		return v, fmt.Errorf("unknown voter change %q", c.Op)
	}
	for id := range next {
		v.Voters = append(v.Voters, id)
	}
	sort.Strings(v.Voters)
	if v.NoOp {
		return v, nil
	}
	var up, down []string
	for _, id := range v.Voters {
		// A node being added, or given a new address, has not answered at
		// that address yet: it does not count until it has. One that is a
		// non-voter at that address already (CatchUpFirst) has, if live.
		fresh := id == c.ID && (cur[id].ID == "" || cur[id].Address != c.Address)
		if id == leader || live[id] && !fresh {
			up = append(up, id)
		} else {
			down = append(down, id)
		}
	}
	need := len(v.Voters)/2 + 1
	if len(up) < need {
		return v, fmt.Errorf("refused: after this change the voters would be %s, which needs %d in contact for a majority, "+
			"but only %d (%s) answer the leader now (absent: %s); bring a voter back first",
			strings.Join(v.Voters, ", "), need, len(up), strings.Join(up, ", "), strings.Join(down, ", "))
	}
	if len(v.Voters) == 1 {
		v.Warning = "the cluster now has a single voter: if it fails, nothing can be committed and nothing fails over"
	} else if len(v.Voters)%2 == 0 {
		v.Warning = fmt.Sprintf("the cluster now has %d voters, an even number: it tolerates no more failures than with %d; add or remove one more voter",
			len(v.Voters), len(v.Voters)-1)
	}
	return v, nil
}

// CatchUpFirst reports whether an add that Check refuses would pass once
// the node, joined as a non-voter at its address (which changes no
// majority), has answered the leader: with few voters in contact (one,
// after `vigil recover`) the new node is the majority's missing member.
// Not for a voter given a new address: raft's AddNonvoter keeps a voter a
// voter, and removing it again, were it silent, would lose a voter.
func CatchUpFirst(servers []Server, leader string, live map[string]bool, c Change) bool {
	if c.Op != "add" {
		return false
	}
	joined := []Server{{ID: c.ID, Address: c.Address}}
	for _, s := range servers {
		if s.ID == c.ID && s.Voter {
			return false
		}
		if s.ID != c.ID {
			joined = append(joined, s)
		}
	}
	withIt := map[string]bool{c.ID: true}
	for id, l := range live {
		withIt[id] = withIt[id] || l
	}
	_, err := Check(joined, leader, withIt, c)
	return err == nil
}

// Disagreement compares the raft voters with the configured nodes and
// returns a warning naming the differences, or "".
func Disagreement(servers []Server, configured []string) string {
	conf := map[string]bool{}
	for _, n := range configured {
		conf[n] = true
	}
	voters := map[string]bool{}
	var extra, missing []string
	for _, s := range servers {
		if s.Voter {
			voters[s.ID] = true
			if !conf[s.ID] {
				extra = append(extra, s.ID)
			}
		}
	}
	for _, n := range configured {
		if !voters[n] {
			missing = append(missing, n)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "configured but not raft voters: "+strings.Join(missing, ", ")+" (`vigil node add`)")
	}
	if len(extra) > 0 {
		parts = append(parts, "raft voters missing from the configuration: "+strings.Join(extra, ", ")+" (`vigil node remove`, or add a node block)")
	}
	if len(parts) == 0 {
		return ""
	}
	return "configuration and raft membership disagree: " + strings.Join(parts, "; ")
}
