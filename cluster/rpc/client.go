// Package rpc is the node-to-node path on the cluster port's RPC channel:
// commands a node reports to the leader (executor results, standby and
// leaving), the leader's read index, and reads of another node's local view.
// The client keeps one long-lived HTTP client per peer (keep-alive, TLS
// session reuse); the server authorizes every forwarded command against the
// sender's certificate (authz.go), in one place.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// ErrNoLeader is returned when a write cannot reach a leader.
var ErrNoLeader = errors.New("no cluster leader (is a quorum of nodes up?)")

// ErrNotLeader is returned by ApplyLocal on a node that is not the leader:
// decisions only the leader makes are never forwarded.
var ErrNotLeader = errors.New("this node is not the leader: only the leader commits this")

// Raft is what the RPC path needs from consensus.
type Raft interface {
	IsLeader() bool
	Leader() (id, addr string)
	Apply(cmd []byte, timeout time.Duration) (any, error)
	// ReadIndex, on the leader: an index that includes every command
	// committed before the call, leadership confirmed by a quorum.
	ReadIndex(ctx context.Context) (uint64, error)
}

// DialFunc opens an RPC connection to the node serverName at addr.
type DialFunc func(ctx context.Context, addr, serverName string) (net.Conn, error)

const applyTimeout = 3 * time.Second

// Client commits commands (on the leader directly, elsewhere by forwarding
// to the leader) and talks to other nodes' RPC servers.
type Client struct {
	raft Raft
	dial DialFunc

	mu    sync.Mutex
	peers map[string]*http.Client // "id@addr" -> client with its own connection pool

	leaseMu        sync.Mutex
	lease          *leaseConn // the open lease stream (leasestream.go)
	leaseHTTP      string     // "id@addr" of a leader without one, renewed with over HTTP
	leaseHTTPUntil time.Time  // until then
}

// NewClient returns a client; dial nil means this node cannot forward
// (a single-node cluster).
func NewClient(r Raft, dial DialFunc) *Client {
	return &Client{raft: r, dial: dial, peers: map[string]*http.Client{}}
}

// Apply commits c and returns the state machine's verdict. On a follower it
// forwards c to the leader, which accepts only what this node may report
// (authz.go).
func (c *Client) Apply(ctx context.Context, cmd state.Command) error {
	b, err := state.Encode(cmd)
	if err != nil {
		return err
	}
	if c.raft.IsLeader() {
		return c.applyRaw(b)
	}
	id, addr, err := c.leader()
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx, applyTimeout+time.Second)
	defer cancel()
	return c.post(ctx, id, addr, "/v1/internal/apply", b)
}

// leader is the leader to forward to: ErrNoLeader when none is known or
// this node cannot forward.
func (c *Client) leader() (id, addr string, err error) {
	id, addr = c.raft.Leader()
	if addr == "" || c.dial == nil {
		return "", "", ErrNoLeader
	}
	return id, addr, nil
}

// post sends body to path on the leader id at addr; nil only on a 200.
func (c *Client) post(ctx context.Context, id, addr, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+id+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.peer(id, addr).Do(req)
	if err != nil {
		return fmt.Errorf("forward to leader %s: %w", id, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	return nil
}

// ApplyLocal commits c only if this node is the leader. Decisions the leader
// makes itself (node status, fence records) use it, so that they never
// travel over the wire.
func (c *Client) ApplyLocal(cmd state.Command) error {
	if !c.raft.IsLeader() {
		return ErrNotLeader
	}
	b, err := state.Encode(cmd)
	if err != nil {
		return err
	}
	return c.applyRaw(b)
}

func (c *Client) applyRaw(b []byte) error {
	resp, err := c.raft.Apply(b, applyTimeout)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if e, ok := resp.(error); ok && e != nil {
		return e
	}
	return nil
}

// ReadIndex returns a log index that includes every write committed before
// the call, confirmed by the current leader (raft's ReadIndex): a node whose
// state has applied that index is not acting on a stale view.
func (c *Client) ReadIndex(ctx context.Context) (uint64, error) {
	if c.raft.IsLeader() {
		return c.raft.ReadIndex(ctx)
	}
	id, addr, err := c.leader()
	if err != nil {
		return 0, err
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	if err := c.Get(ctx, id, addr, "/v1/internal/readindex", &out); err != nil {
		return 0, fmt.Errorf("read index from leader %s: %w", id, err)
	}
	return out.Index, nil
}

// Get fetches path from the node id at addr over its RPC channel.
func (c *Client) Get(ctx context.Context, id, addr, path string, out any) error {
	if c.dial == nil {
		return ErrNoLeader
	}
	ctx, cancel := bounded(ctx, applyTimeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+id+path, nil)
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
	return json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out)
}

// PostLeader sends an operator's JSON request to the leader's RPC server
// (operations that must run on the leader, like fencing).
func (c *Client) PostLeader(ctx context.Context, path string, in any) error {
	id, addr, err := c.leader()
	if err != nil {
		return err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.post(ctx, id, addr, path, b)
}

// CloseIdle closes every idle pooled connection and the lease stream.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	for _, p := range c.peers {
		p.CloseIdleConnections()
	}
	c.mu.Unlock()
	c.leaseMu.Lock()
	c.closeLeaseLocked()
	c.leaseMu.Unlock()
}

// maxResponse bounds what a peer's answer may make this node read.
const maxResponse = 4 << 20

// peer returns the long-lived client for the node id at addr. Its pool
// keeps connections open between calls (so a sync before every start and
// every status fan-out reuse one TLS connection); deadlines come from the
// request contexts.
func (c *Client) peer(id, addr string) *http.Client {
	key := id + "@" + addr
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.peers[key]; ok {
		return p
	}
	p := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.dial(ctx, addr, id)
		},
		MaxIdleConnsPerHost: 4,
		// Below the server's idle timeout, so the client closes first and a
		// request never races the server closing an idle connection.
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 6 * time.Minute, // a forwarded fence (vigil fence waits 5 minutes) is the longest call
	}}
	c.peers[key] = p
	return p
}

// bounded gives ctx a deadline d from now unless it has one already.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// drain reads the rest of a (small) body so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

type apiError struct {
	Error string `json:"error"`
}

func decodeError(resp *http.Response) error {
	var e apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Error == "" {
		return fmt.Errorf("%s", resp.Status)
	}
	return errors.New(e.Error)
}
