// Package api serves vigil's HTTP/JSON API (unix socket for the CLI, and the
// mTLS RPC channel of the cluster port for forwarding between nodes) and
// holds the Go client the CLI uses.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// ErrNoLeader is returned when a write cannot reach a leader.
var ErrNoLeader = errors.New("no cluster leader (is a quorum of nodes up?)")

// Raft is what the API needs from consensus.
type Raft interface {
	IsLeader() bool
	Leader() (id, addr string)
	Apply(cmd []byte, timeout time.Duration) (any, error)
	Term() uint64
	LastLeaderContact() time.Time
	VerifyLeader() error
	CommitIndex() uint64
}

// DialFunc opens an RPC connection to a peer's cluster port.
type DialFunc func(ctx context.Context, addr, serverName string) (net.Conn, error)

// Applier commits commands: on the leader directly, elsewhere by forwarding
// the encoded command to the leader over the cluster port's RPC channel.
type Applier struct {
	Raft Raft
	Dial DialFunc
}

const applyTimeout = 3 * time.Second

// Apply commits c and returns the state machine's verdict.
func (a *Applier) Apply(ctx context.Context, c state.Command) error {
	b, err := state.Encode(c)
	if err != nil {
		return err
	}
	return a.applyRaw(ctx, b)
}

func (a *Applier) applyRaw(ctx context.Context, b []byte) error {
	if a.Raft.IsLeader() {
		resp, err := a.Raft.Apply(b, applyTimeout)
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if e, ok := resp.(error); ok && e != nil {
			return e
		}
		return nil
	}
	id, addr := a.Raft.Leader()
	if addr == "" || a.Dial == nil {
		return ErrNoLeader
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+id+"/v1/internal/apply", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := a.client(addr, id).Do(req)
	if err != nil {
		return fmt.Errorf("forward to leader %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// client returns an HTTP client whose connections go to the leader's RPC channel.
func (a *Applier) client(addr, serverName string) *http.Client {
	return &http.Client{
		Timeout: applyTimeout + time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return a.Dial(ctx, addr, serverName)
			},
			DisableKeepAlives: true,
		},
	}
}

// ReadIndex returns a log index that includes every write committed before
// the call, confirmed by the current leader (raft's ReadIndex): a node whose
// state has applied that index is not acting on a stale view.
func (a *Applier) ReadIndex(ctx context.Context) (uint64, error) {
	if a.Raft.IsLeader() {
		if err := a.Raft.VerifyLeader(); err != nil {
			return 0, fmt.Errorf("verify leadership: %w", err)
		}
		return a.Raft.CommitIndex(), nil
	}
	id, addr := a.Raft.Leader()
	if addr == "" || a.Dial == nil {
		return 0, ErrNoLeader
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+id+"/v1/internal/readindex", nil)
	if err != nil {
		return 0, err
	}
	resp, err := a.client(addr, id).Do(req)
	if err != nil {
		return 0, fmt.Errorf("read index from leader %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, decodeError(resp)
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.Index, nil
}

// Get fetches path from the node id at addr over its RPC channel.
func (a *Applier) Get(ctx context.Context, id, addr, path string, out any) error {
	if a.Dial == nil {
		return ErrNoLeader
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+id+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.client(addr, id).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// PostLeader sends a JSON request to the leader's API (for operations that
// must run on the leader, like fencing).
func (a *Applier) PostLeader(ctx context.Context, path string, in any) error {
	id, addr := a.Raft.Leader()
	if addr == "" || a.Dial == nil {
		return ErrNoLeader
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+id+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	c := a.client(addr, id)
	c.Timeout = 0 // bounded by ctx: fencing can take long
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("forward to leader %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	return nil
}
