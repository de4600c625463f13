package api

import (
	"context"
	"net/http"

	"github.com/vigil-ha/vigil/cluster/keyring"
)

// Keyring lists every node's gossip keyring (req nil) or applies req on
// every node. The agent serves it (cluster/keyring) where a key is set.
func (c *Client) Keyring(ctx context.Context, req *keyring.Request) (keyring.Reply, error) {
	var out keyring.Reply
	if req == nil {
		return out, c.do(ctx, http.MethodGet, keyring.OperatorPath, nil, &out)
	}
	return out, c.do(ctx, http.MethodPost, keyring.OperatorPath, req, &out)
}
