package api

import (
	"context"
	"encoding/json"
	"net/http"
)

// ReloadReply is the answer to POST /v1/reload (the agent's ReloadReply).
type ReloadReply struct {
	Applied []string `json:"applied,omitempty"`
	Pending []struct {
		Section string `json:"section"`
		Why     string `json:"why,omitempty"`
	} `json:"pending,omitempty"`
	Hash string `json:"hash"`
}

// Reload asks the agent to re-read its configuration.
func (c *Client) Reload(ctx context.Context) (ReloadReply, error) {
	var raw json.RawMessage
	var out ReloadReply
	if err := c.do(ctx, http.MethodPost, "/v1/reload", struct{}{}, &raw); err != nil {
		return out, err
	}
	return out, json.Unmarshal(raw, &out)
}
