package coordinator

import (
	"strconv"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
)

// Link is the leader's view of one peer on the cluster link: raw evidence,
// judged by link().
type Link struct {
	OK bool // no heartbeat to it has failed since the last success
	// Answered: the peer answered this leader at least once. Until it has,
	// the link is unknown whatever OK says: no evidence either way.
	Answered bool
	Since    time.Time // when !OK: its last answer, or when the failure was seen if it never answered
	// Last is the latest evidence that the peer was alive: when this leader
	// sent the last heartbeat it answered, or when its last lease renewal
	// arrived, whichever is later. Zero: not timed (OK alone decides).
	Last time.Time
	// Renewed is when its last lease renewal arrived (zero: none to this
	// leader). Its lease counts from no later than this: it holds one only
	// until a lease after sending a renewal a leader answered, and leaders
	// answer only while they hold their own lease (docs/design.md, Leases).
	Renewed time.Time
}

// linkState is a link's verdict: evidence of life is only a fresh answer.
type linkState int

const (
	linkUnknown linkState = iota // not observed since this leader took office
	linkOK
	linkLost // observed since this leader took office, then lost
)

func (s linkState) String() string {
	return [...]string{"unknown", "ok", "lost"}[s]
}

// link is node's cluster link as this leader knows it. A peer that answered
// is lost once a heartbeat to it failed, once it has been silent for
// staleAfter, or once a probe started after its last answer found its host
// answering on neither link (reach.go: that is more than missed answers);
// its lease counts from its last evidence of life. The previous
// leader is lost once a heartbeat to it failed or prevLeaderWait passed,
// even if it never answered us: our election is the observation (a
// majority, us included, stopped hearing from it). Until then it may simply
// not have answered yet (a leadership transfer): unknown.
func (in Input) link(node string) (linkState, Link) {
	l, ok := in.Links[node]
	switch {
	case ok && l.Answered:
		if !l.Last.IsZero() {
			l.Since = l.Last
		}
		if l.OK && (l.Last.IsZero() || !in.due(l.Last.Add(in.staleAfter()))) && !in.silent(node, l.Since) {
			return linkOK, l
		}
		return linkLost, l
	case ok && node == in.Term.PrevLeader && (!l.OK || in.due(in.Term.Since.Add(prevLeaderWait))):
		return linkLost, Link{Since: in.Term.PrevContact}
	}
	return linkUnknown, l
}

// prevLeaderWait: the leader we replaced is lost if it has not answered us
// this long after we took office. After a failure our election is the
// evidence; after a leadership transfer the old leader is alive and answers
// within a round trip (or, slower, only its groups move: its own lease
// ended 30 ms after the transfer started, see the agent's lease keeper).
const prevLeaderWait = releaseMargin

// seen reports whether node showed any sign of life since this leader took
// office (an answer on the cluster link, alive on the heartbeat link), or is
// the leader it replaced. A node never seen is never fenced (DESIGN.md
// invariant 7): it may be booting, and its lease cannot outlast ours.
func (in Input) seen(node string) bool {
	if st, _ := in.link(node); st != linkUnknown {
		return true
	}
	m, ok := in.Members[node]
	if !ok {
		return false
	}
	switch m.State {
	case membership.StateAlive, membership.StateSuspect:
		return true
	}
	return m.Since.After(in.Term.Since) // alive until after we took office
}

// joined reports whether groups may be placed on node: it is this leader,
// or it answered this leader on the cluster link and still does.
func (in Input) joined(node string) bool {
	if node == in.Config.NodeName {
		return true
	}
	st, _ := in.link(node)
	return st == linkOK
}

// verdicts commits each node's state when it changed, and clears leaving
// marks of nodes that came back as a new incarnation.
func verdicts(in Input) []state.Command {
	var out []state.Command
	for _, n := range in.Config.Nodes {
		cur := in.Data.Nodes[n.Name]
		st, why := in.judge(n.Name, cur)
		unfenced := st == state.NodeFailed && !n.Witness && (in.Fenceable == nil || !in.Fenceable(n.Name))
		if unfenced {
			why = in.unfenced(n.Name)
		}
		if cur == nil || cur.Status != st || unfenced && cur.Reason != why {
			out = append(out, &state.SetNodeStatus{Node: n.Name, Status: st, Reason: why, Time: in.Now})
		}
		if cur != nil && cur.Leaving && in.restarted(n.Name, cur) {
			out = append(out, &state.SetLeaving{Node: n.Name, Leaving: false, Time: in.Now})
		}
	}
	return out
}

// judge decides a node's state from the two independent signals (DESIGN.md
// invariant 6): a node has failed only when both the heartbeat link and the
// cluster link lost it. The cluster link alone lost: offline (its lease runs
// out). The heartbeat link alone lost: still online, and status shows a
// warning. A cluster link not observed since this leader took office is
// unknown: the node is never judged failed on it; what a previous leader
// committed stands until this leader's lease window has passed.
func (in Input) judge(name string, cur *state.Node) (string, string) {
	if name == in.Config.NodeName {
		return state.NodeOnline, ""
	}
	ls, l := in.link(name)
	m, seen := in.Members[name]
	hbLost := !seen || m.State == membership.StateDead || m.State == membership.StateLeft
	// A fenced node stays fenced until it is back on both links, and on the
	// heartbeat link since the fence: right after a fence (on purpose, of a
	// node not yet seen lost) both links still look up for a moment.
	// A different agent start time than at the fence proves a reboot too:
	// a node powered on at once may never have been seen dead.
	rebooted := seen && cur != nil && cur.FencedBoot != "" && m.Meta.Extra[BootKey] != "" &&
		m.Meta.Extra[BootKey] != cur.FencedBoot
	if cur != nil && cur.Status == state.NodeFenced &&
		!(ls == linkOK && seen && m.State == membership.StateAlive && (m.Since.After(cur.Since) || rebooted)) {
		return state.NodeFenced, cur.Reason
	}
	switch ls {
	case linkOK:
		return state.NodeOnline, ""
	case linkLost:
		switch {
		case seen && m.State == membership.StateLeft:
			return state.NodeOffline, "left the cluster"
		case hbLost:
			return state.NodeFailed, "lost on the heartbeat and cluster links"
		case in.silent(name, l.Since):
			return state.NodeFailed, "lost on the cluster link, and its host answers on neither link"
		}
		return state.NodeOffline, "cluster link lost (heartbeat link still up)"
	}
	// Unknown cluster link.
	switch {
	case cur == nil || cur.Status == "" || cur.Status == state.NodeOffline && cur.Reason == neverJoined:
		return state.NodeOffline, neverJoined
	case cur.Status == state.NodeOnline && in.due(in.Term.Since.Add(in.Config.Cluster.Timing.Lease)):
		// It has had a whole lease to answer: whatever it was, it holds no
		// lease now. Not failed: nothing was observed.
		return state.NodeOffline, "not seen on the cluster link since " + in.Config.NodeName + " became leader"
	}
	return cur.Status, cur.Reason
}

const neverJoined = "never joined"

// BootKey is the node metadata entry with the agent's start time (unix
// nanoseconds, the node's own clock): a new value is a new incarnation.
const BootKey = "boot"

// Started is when m's agent started, as it gossips it (BootKey); false if
// it does not say.
func Started(m membership.Member) (time.Time, bool) {
	ns, err := strconv.ParseInt(m.Meta.Extra[BootKey], 10, 64)
	return time.Unix(0, ns), err == nil
}

// restarted reports whether a leaving node is back as a new incarnation: it
// answers on the cluster link and gossips another start time than the agent
// that set the mark (a mark by an earlier version records none: then its
// agent started after the mark, both times from the node's own clock).
func (in Input) restarted(name string, cur *state.Node) bool {
	if !in.joined(name) || cur.LeavingSince.IsZero() {
		return false
	}
	m, ok := in.Members[name]
	if !ok || m.State != membership.StateAlive && m.State != membership.StateSuspect {
		return false
	}
	return NewIncarnation(m, cur)
}

// NewIncarnation reports whether m, a node marked leaving (cur), is a later
// incarnation than the agent that set the mark. The start time it gossips is
// compared for equality with the one the mark recorded, not with the mark's
// time: after a reboot the node's clock may run behind the one that stamped
// the mark (a drifting RTC, NTP not yet synchronised).
func NewIncarnation(m membership.Member, cur *state.Node) bool {
	if cur.LeavingBoot != "" {
		b := m.Meta.Extra[BootKey]
		return b != "" && b != cur.LeavingBoot
	}
	boot, ok := Started(m)
	return ok && boot.After(cur.LeavingSince)
}
