package rpc

import (
	"context"
	"net/http"
)

// Lease renewal. A follower's lease to run resources must rest on evidence
// that the leader hears it, not only on hearing the leader: with the link
// cut in the follower's outgoing direction it keeps receiving heartbeats
// while the leader counts it as lost and, once the lease has run out from
// the leader's side, starts its groups elsewhere. So a follower renews its
// lease by a round trip: it notes when it sent the request, and the leader
// notes when it received it. The follower's lease then ends at send + lease,
// which is before the leader's receipt + lease, which is what the leader
// waits for before it releases the follower's groups.

// LeasePath is the renewal endpoint on the cluster port.
const LeasePath = "/v1/internal/lease"

func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) {
	peer := r.Context().Value(peerKey{}).(string)
	// Answered only while this node leads and holds its leader lease: a
	// deposed leader that raft has not stepped down yet must not extend a
	// follower's lease past the next leader's release of its groups.
	if !s.grant(peer) {
		writeError(w, http.StatusServiceUnavailable, ErrNotLeader)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// RenewLease asks the leader to note that this node is in contact, over the
// lease stream (leasestream.go) or, with a leader that has none, over HTTP.
// It returns nil only on the leader's answer; the caller counts the lease
// from before the call.
func (c *Client) RenewLease(ctx context.Context) error {
	if c.raft.IsLeader() {
		return nil
	}
	id, addr, err := c.leader()
	if err != nil {
		return err
	}
	return c.renewLeader(ctx, id, addr)
}
