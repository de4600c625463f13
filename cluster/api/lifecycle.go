package api

import (
	"errors"
	"net/http"
	"time"
)

// FenceDeviceStatus is the latest check of one fence device from one node.
type FenceDeviceStatus struct {
	Node   string    `json:"node"` // the node that checked it
	Device string    `json:"device"`
	Target string    `json:"target"` // the node it fences
	State  string    `json:"state"`  // ok | failing | unknown (not checked yet)
	Error  string    `json:"error,omitempty"`
	At     time.Time `json:"at,omitzero"`
	Since  time.Time `json:"since,omitzero"` // in this state since
}

// OpFailure is a resource operation that keeps failing on one node.
type OpFailure struct {
	Node     string `json:"node"`
	Group    string `json:"group"`
	Resource string `json:"resource"`
	Op       string `json:"op"` // start | stop | monitor
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
	// Retry is when the next attempt is due; zero: none until
	// `vigil resource cleanup` (the group is blocked).
	Retry time.Time `json:"retry,omitzero"`
}

// fenceCheck runs the check (status operation) of a node's fence devices
// from the answering node: `vigil fence -check NODE`. It is not forwarded to
// the leader: whether this node reaches the device is the question.
func (s *Server) fenceCheck(w http.ResponseWriter, r *http.Request) {
	var req FenceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !s.knownNode(w, req.Node) {
		return
	}
	if s.d.FenceCheck == nil {
		writeError(w, http.StatusConflict, errors.New("no fencing configured"))
		return
	}
	res, err := s.d.FenceCheck(r.Context(), req.Node)
	if err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
