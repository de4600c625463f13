package api

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Handle adds a route (metrics, the status page) to the API served on the
// unix socket and the TLS listener. Node-to-node RPC does not serve it.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ReadOnly serves the read-only API (GET /v1/status, /v1/history,
// /v1/members) for listeners that must not take writes, like the
// plain-HTTP telemetry listener.
func (s *Server) ReadOnly() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/history", s.history)
	mux.HandleFunc("GET /v1/members", s.members)
	return mux
}

// LeaderTransferRequest is the body of POST /v1/leader/transfer.
type LeaderTransferRequest struct {
	Node string `json:"node,omitempty"` // "" = the most up-to-date other voter
}

// LeaderTransferReply says who leads after the transfer.
type LeaderTransferReply struct {
	Leader string `json:"leader"`
}

// transferer is the consensus ability leader transfer needs.
type transferer interface {
	TransferLeadership(id string) error
}

// RegisterLeaderTransfer adds POST /v1/leader/transfer. It is separate from
// NewServer so that the route only exists where consensus can do it.
func (s *Server) RegisterLeaderTransfer() {
	s.mux.HandleFunc("POST /v1/leader/transfer", s.leaderTransfer)
}

func (s *Server) leaderTransfer(w http.ResponseWriter, r *http.Request) {
	var req LeaderTransferRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Node != "" && !s.knownNode(w, req.Node) {
		return
	}
	if !s.d.Raft.IsLeader() {
		old, _ := s.d.Raft.Leader()
		if err := s.d.Applier.PostLeader(r.Context(), "/v1/leader/transfer", req); err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, LeaderTransferReply{Leader: s.newLeader(r.Context(), old)})
		return
	}
	if req.Node == s.d.Config.NodeName {
		writeError(w, http.StatusConflict, fmt.Errorf("%s is already the leader", req.Node))
		return
	}
	t, ok := s.d.Raft.(transferer)
	if !ok {
		writeError(w, http.StatusNotImplemented, fmt.Errorf("leadership transfer is not supported here"))
		return
	}
	if err := t.TransferLeadership(req.Node); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, LeaderTransferReply{Leader: s.newLeader(r.Context(), s.d.Config.NodeName)})
}

// newLeader waits briefly for a leader other than old to be known here:
// raft reports a transfer done once the target started its election.
func (s *Server) newLeader(ctx context.Context, old string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for {
		id, _ := s.d.Raft.Leader()
		if id != "" && id != old {
			return id
		}
		select {
		case <-ctx.Done():
			return id
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// LeaderTransfer asks the cluster to move raft leadership to node ("" = any
// other voter) and returns the new leader.
func (c *Client) LeaderTransfer(ctx context.Context, node string) (string, error) {
	var out LeaderTransferReply
	err := c.do(ctx, http.MethodPost, "/v1/leader/transfer", LeaderTransferRequest{Node: node}, &out)
	return out.Leader, err
}

// Get sends a plain GET to the agent (for /metrics and the status page).
func (c *Client) Get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	return c.http.Do(req)
}
