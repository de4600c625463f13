package arbitrator

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client asks an arbitrator for its vote.
type Client struct {
	url string
	hc  *http.Client
}

// NewClient talks to the arbitrator at addr (host:port) with mutual TLS:
// tlsCfg carries this node's certificate and, in RootCAs, the arbitrator's
// CA; serverName is the name in the arbitrator's certificate.
func NewClient(addr, serverName string, tlsCfg *tls.Config) *Client {
	t := tlsCfg.Clone()
	t.ServerName = serverName
	return &Client{url: "https://" + addr + "/v1/vote", hc: &http.Client{
		Transport: &http.Transport{TLSClientConfig: t, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second},
	}}
}

// Ask sends req and returns the arbitrator's answer. Any error (no answer,
// a refusal to store the vote) means "no vote".
func (c *Client) Ask(ctx context.Context, req Request) (Reply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return Reply{}, fmt.Errorf("arbitrator: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Reply{}, fmt.Errorf("arbitrator: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	var rep Reply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&rep); err != nil {
		return Reply{}, fmt.Errorf("arbitrator: %w", err)
	}
	return rep, nil
}
