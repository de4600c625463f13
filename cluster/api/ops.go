package api

import (
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"github.com/vigil-ha/vigil/cluster/placement"
	"github.com/vigil-ha/vigil/cluster/state"
)

// StandbyRequest is the body of POST /v1/node/standby.
type StandbyRequest struct {
	Node    string `json:"node"`
	Standby bool   `json:"standby"`
}

// ResourceRequest is the body of POST /v1/resource/{move,clear,cleanup,restart}.
type ResourceRequest struct {
	Group string `json:"group"`
	Node  string `json:"node,omitempty"` // move only
}

// MaintenanceRequest is the body of POST /v1/maintenance.
type MaintenanceRequest struct {
	Group string `json:"group,omitempty"` // "" = whole cluster
	On    bool   `json:"on"`
}

func (s *Server) standby(w http.ResponseWriter, r *http.Request) {
	var req StandbyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !s.knownNode(w, req.Node) {
		return
	}
	if req.Standby && s.isWitness(req.Node) {
		writeError(w, http.StatusConflict, fmt.Errorf("%s is a witness: it votes but hosts no groups, so standby would change nothing", req.Node))
		return
	}
	if !req.Standby {
		// `node online` also ends a shutdown mark that outlived its agent
		// (the leader clears it itself when the node restarts). Sent
		// whatever this node's copy of the state says, which may be behind;
		// the state machine ignores it when the node is not leaving.
		if err := s.d.Applier.Apply(r.Context(), &state.SetLeaving{Node: req.Node, Leaving: false, Time: s.d.Now()}); err != nil {
			code := http.StatusConflict
			if errors.Is(err, ErrNoLeader) {
				code = http.StatusServiceUnavailable
			}
			writeError(w, code, err)
			return
		}
	}
	s.write(w, r, &state.SetStandby{Node: req.Node, Standby: req.Standby, Time: s.d.Now()})
}

func (s *Server) resource(w http.ResponseWriter, r *http.Request) {
	var req ResourceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !s.knownGroup(w, req.Group) {
		return
	}
	now := s.d.Now()
	switch op := r.PathValue("op"); op {
	case "move":
		if !s.knownNode(w, req.Node) {
			return
		}
		in := placement.Input{Data: s.d.Store.Read(), Config: s.config()}
		if why := placement.Ineligible(in, req.Group, req.Node); why != "" {
			writeError(w, http.StatusConflict, fmt.Errorf("cannot move %s to %s: %s %s", req.Group, req.Node, req.Node, why))
			return
		}
		s.write(w, r, &state.Pin{Group: req.Group, Node: req.Node, Time: now})
	case "clear":
		s.write(w, r, &state.Pin{Group: req.Group, Time: now})
	case "cleanup":
		s.write(w, r, &state.Cleanup{Group: req.Group, Time: now})
	case "restart":
		s.write(w, r, &state.Restart{Group: req.Group, Time: now})
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown resource operation %q (move, clear, cleanup, restart)", op))
	}
}

func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	var req MaintenanceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Group != "" && !s.knownGroup(w, req.Group) {
		return
	}
	s.write(w, r, &state.SetMaintenance{Group: req.Group, On: req.On, Time: s.d.Now()})
}

func (s *Server) fence(w http.ResponseWriter, r *http.Request) {
	var req FenceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !s.knownNode(w, req.Node) {
		return
	}
	if !s.d.Raft.IsLeader() {
		if err := s.d.Applier.PostLeader(r.Context(), "/v1/fence", req); err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	if req.Node == s.d.Config.NodeName {
		writeError(w, http.StatusConflict, fmt.Errorf("%s is the leader and never fences itself: run the fence from another node after moving leadership, or power it off by hand", req.Node))
		return
	}
	fence := func() error { return s.d.Fence(r.Context(), req.Node, "manual fence by operator") }
	switch {
	case req.Confirm && s.d.ConfirmDown != nil:
		fence = func() error { return s.d.ConfirmDown(r.Context(), req.Node) }
	case req.Confirm || s.d.Fence == nil:
		writeError(w, http.StatusConflict, fmt.Errorf("no fencing configured"))
		return
	}
	if err := fence(); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// knownNode answers 404 and returns false for a node not in the config.
func (s *Server) knownNode(w http.ResponseWriter, name string) bool {
	for _, n := range s.d.Config.Nodes {
		if n.Name == name {
			return true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("no node named %q in the cluster", name))
	return false
}

func (s *Server) isWitness(name string) bool {
	for _, n := range s.d.Config.Nodes {
		if n.Name == name {
			return n.Witness
		}
	}
	return false
}

// knownGroup answers 404 and returns false for a group not in the config.
func (s *Server) knownGroup(w http.ResponseWriter, name string) bool {
	for _, g := range s.config().Groups {
		if g.Name == name {
			return true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("no group named %q", name))
	return false
}

func umask(m int) int { return syscall.Umask(m) }
