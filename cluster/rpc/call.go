package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// Handle adds a node-to-node route (like the keyring's) behind the
// identity check: only nodes with a cluster certificate reach it.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Call sends a JSON request (in may be nil) to the node id at addr over its
// RPC channel and decodes the answer into out (if not nil).
func (c *Client) Call(ctx context.Context, id, addr, method, path string, in, out any) error {
	if c.dial == nil {
		return ErrNoLeader
	}
	ctx, cancel := bounded(ctx, applyTimeout+time.Second)
	defer cancel()
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+id+path, body)
	if err != nil {
		return err
	}
	resp, err := c.peer(id, addr).Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out)
}
