// Package arbitrator is a tie-breaker for two_node clusters, like
// corosync-qnetd: `vigil arbitrator` runs on a third machine that is not a
// cluster member (no raft, no resources) and serves many clusters over
// mutual TLS. When the two nodes of a pair lose each other, each may ask it
// for the cluster's vote; the first to ask gets it and keeps it (the vote is
// sticky and stored on disk) until it reports its pair working again. The
// other is refused for as long as the owner has not released the vote, so
// at most one node of a pair ever continues alone on the arbitrator's word.
// A healthy pair never needs the arbitrator: losing it stops nothing.
package arbitrator

// States a node reports about its pair.
const (
	// StatePair: both nodes are voters and the pair works. Releases a
	// vote held by either of them.
	StatePair = "pair"
	// StateLost: the peer is lost on both links; the node asks for the vote.
	StateLost = "lost"
	// StateAlone: the node runs alone (after the vote or a fence). It
	// takes the vote if nobody holds it, so the arbitrator learns of nodes
	// that continued alone by fencing.
	StateAlone = "alone"
)

// Request is what a node sends: who it is, its peer, and its pair's state.
// Node must be the name in the node's certificate.
type Request struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Peer    string `json:"peer"`
	State   string `json:"state"`
}

// Reply says whether the node holds the cluster's vote, and who does.
type Reply struct {
	Granted bool   `json:"granted"`
	Owner   string `json:"owner,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// cluster is one cluster's record, persisted.
type cluster struct {
	// CA is the fingerprint of the root that signed the first certificate
	// seen for this cluster name: a node of another cluster (another CA)
	// cannot speak for it.
	CA    string `json:"ca"`
	Owner string `json:"owner,omitempty"`
	// Pair is the owner's peer when the vote was granted.
	Pair string `json:"pair,omitempty"`
}

// decide applies one request to a cluster's record. It is pure; changed
// says whether the record must be stored before replying.
func decide(c *cluster, req Request) (rep Reply, changed bool) {
	mine := c.Owner == req.Node
	ours := mine || c.Owner == req.Peer
	switch req.State {
	case StatePair:
		if c.Owner != "" && ours {
			c.Owner, c.Pair = "", ""
			return Reply{Reason: "pair working again: vote released"}, true
		}
		return Reply{Owner: c.Owner}, false
	case StateLost, StateAlone:
		switch {
		case c.Owner == "":
			c.Owner, c.Pair = req.Node, req.Peer
			return Reply{Granted: true, Owner: req.Node}, true
		case mine:
			return Reply{Granted: true, Owner: req.Node}, false
		}
		why := c.Owner + " holds this cluster's vote"
		if req.State == StateAlone {
			why = "CONFLICT: " + req.Node + " reports running alone while " + c.Owner + " holds the vote"
		}
		return Reply{Owner: c.Owner, Reason: why}, false
	}
	return Reply{Owner: c.Owner, Reason: "unknown state " + req.State}, false
}
