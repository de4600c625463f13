package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to an agent's API: "unix:///path/to/vigil.sock", or
// "https://host:port" with mutual TLS (tlsConf from tlsutil.Load).
type Client struct {
	addr string
	base string
	http *http.Client
}

// NewClient returns a client for addr.
func NewClient(addr string, tlsConf *tls.Config) (*Client, error) {
	if strings.HasPrefix(addr, "https://") {
		if tlsConf == nil {
			return nil, fmt.Errorf("API address %s needs client TLS: set -ca-file, -cert-file and -key-file (or VIGIL_CACERT, VIGIL_CLIENT_CERT, VIGIL_CLIENT_KEY)", addr)
		}
		return &Client{addr: addr, base: strings.TrimSuffix(addr, "/"),
			http: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}}, nil
	}
	path := strings.TrimPrefix(addr, "unix://")
	if path == "" || strings.Contains(path, "://") {
		return nil, fmt.Errorf("unsupported API address %q: use unix:///path/to/vigil.sock or https://host:port", addr)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{addr: path, base: "http://vigil", http: &http.Client{Transport: tr}}, nil // deadlines come from ctx
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the vigil agent at %s (is it running? set -address or VIGIL_ADDR): %w", c.addr, unwrapNet(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func unwrapNet(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Status returns the cluster status (from the leader unless stale).
func (c *Client) Status(ctx context.Context, stale bool) (Status, error) {
	var st Status
	p := "/v1/status"
	if stale {
		p += "?stale=1"
	}
	err := c.do(ctx, http.MethodGet, p, nil, &st)
	return st, err
}

// Members returns the heartbeat link's view from the agent.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var m []Member
	err := c.do(ctx, http.MethodGet, "/v1/members", nil, &m)
	return m, err
}

// History returns the last limit events.
func (c *Client) History(ctx context.Context, limit int) ([]Event, error) {
	var ev []Event
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/history?limit=%d", limit), nil, &ev)
	return ev, err
}

// Standby sets a node's standby flag.
func (c *Client) Standby(ctx context.Context, node string, on bool) error {
	return c.do(ctx, http.MethodPost, "/v1/node/standby", StandbyRequest{Node: node, Standby: on}, nil)
}

// Resource runs move|clear|cleanup|restart on a group.
func (c *Client) Resource(ctx context.Context, op, group, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/resource/"+op, ResourceRequest{Group: group, Node: node}, nil)
}

// Maintenance turns maintenance on or off (group "" = cluster).
func (c *Client) Maintenance(ctx context.Context, group string, on bool) error {
	return c.do(ctx, http.MethodPost, "/v1/maintenance", MaintenanceRequest{Group: group, On: on}, nil)
}

// Fence asks the leader to fence node; it returns once the node is confirmed off.
func (c *Client) Fence(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/fence", FenceRequest{Node: node}, nil)
}

// ConfirmDown asks the leader to record node as fenced on the operator's word
// that it is powered off (no device is used).
func (c *Client) ConfirmDown(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/fence", FenceRequest{Node: node, Confirm: true}, nil)
}

// FenceCheck checks node's fence devices from the agent's node now.
func (c *Client) FenceCheck(ctx context.Context, node string) ([]FenceDeviceStatus, error) {
	var out []FenceDeviceStatus
	err := c.do(ctx, http.MethodPost, "/v1/fence/check", FenceRequest{Node: node}, &out)
	return out, err
}
