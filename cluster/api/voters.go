package api

import (
	"context"
	"net/http"

	"github.com/vigil-ha/vigil/cluster/raftmembers"
)

// VoterRequest is the body of POST /v1/node/add and /v1/node/remove.
type VoterRequest struct {
	Op        string `json:"op"` // add | remove (set from the path)
	Node      string `json:"node"`
	Address   string `json:"address,omitempty"`   // add: the node's cluster address
	Heartbeat string `json:"heartbeat,omitempty"` // add: checked against the configuration
}

// VoterReply says what the raft voter set is after the change.
type VoterReply struct {
	Voters  []string `json:"voters"`
	NoOp    bool     `json:"noop,omitempty"`
	Warning string   `json:"warning,omitempty"`
}

// ChangeVoter asks the leader to add or remove a raft voter.
func (c *Client) ChangeVoter(ctx context.Context, req VoterRequest) (VoterReply, error) {
	var out VoterReply
	return out, c.do(ctx, http.MethodPost, "/v1/node/"+req.Op, req, &out)
}

// Voters returns the raft servers as the agent's raft configuration has them.
func (c *Client) Voters(ctx context.Context) ([]raftmembers.Server, error) {
	var out []raftmembers.Server
	return out, c.do(ctx, http.MethodGet, "/v1/voters", nil, &out)
}
