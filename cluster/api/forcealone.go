package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ForceAlone tells the agent on node (which must be the agent this client
// talks to) of a two_node cluster that it may start without having seen its
// peer (`vigil node online -force-alone`): it fences the absent peer and runs
// the groups alone.
func (c *Client) ForceAlone(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/node/force-alone", FenceRequest{Node: node}, nil)
}

// forceAlone is served by the node itself, never forwarded: there is no
// leader to forward to while a pair waits for its peer.
func (s *Server) forceAlone(w http.ResponseWriter, r *http.Request) {
	var req FenceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !s.knownNode(w, req.Node) {
		return
	}
	if req.Node != s.d.Config.NodeName {
		writeError(w, http.StatusConflict, fmt.Errorf("-force-alone acts on the node it runs on: run it on %s (this is %s)",
			req.Node, s.d.Config.NodeName))
		return
	}
	if s.d.ForceAlone == nil {
		writeError(w, http.StatusConflict, errors.New("-force-alone is for two_node clusters only"))
		return
	}
	if err := s.d.ForceAlone(r.Context()); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
