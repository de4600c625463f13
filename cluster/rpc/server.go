package rpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/internal/httpserve"
	"github.com/vigil-ha/vigil/cluster/internal/ratelog"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// ServerDeps are the RPC server's collaborators.
type ServerDeps struct {
	Raft   Raft
	Client *Client // commits authorized commands on this (leader) node
	// Local returns this node's own view (GET /v1/internal/local).
	Local func() any
	// Operator is the API's handler. Only three of its routes are reachable
	// over the cluster port: GET /v1/status (the leader answers for a
	// follower's CLI), POST /v1/fence (fencing runs on the leader) and POST
	// /v1/leader/transfer (only the leader can hand leadership over).
	Operator http.Handler
	// Identify names the node at the other end of an RPC connection; nil
	// reads it from the TLS certificate. Connections it cannot name are
	// refused.
	Identify func(net.Conn) (string, bool)
	// Renewed, on the leader, notes that a follower renewed its lease
	// (lease.go); the coordinator counts the follower's lease from then. It
	// returns false, and the renewal is refused, when this node does not
	// hold its leader lease.
	Renewed func(peer string, at time.Time) bool
	// PushCommit, on the leader, sends the followers the commit index at
	// once (consensus.Node.PushCommit); nil does nothing.
	PushCommit func()
	Logger     hclog.Logger
}

// Server serves the cluster port's RPC channel.
type Server struct {
	d   ServerDeps
	mux *http.ServeMux
	rl  *ratelog.Limiter
}

type (
	peerKey  struct{}
	connKey  struct{}
	serveKey struct{} // the context Serve runs under: hijacked streams end with it
)

// NewServer builds the handler tree; Serve starts serving.
func NewServer(d ServerDeps) *Server {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Identify == nil {
		d.Identify = identifyTLS
	}
	s := &Server{d: d, mux: http.NewServeMux(), rl: ratelog.New(10, 10*time.Second)}
	s.mux.HandleFunc("POST /v1/internal/apply", s.apply)
	s.mux.HandleFunc("GET /v1/internal/readindex", s.readIndex)
	s.mux.HandleFunc("POST "+LeasePath, s.renewLease)
	s.mux.HandleFunc("POST "+LeaseStreamPath, s.leaseStream)
	s.mux.HandleFunc("GET /v1/internal/local", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.d.Local())
	})
	if d.Operator != nil {
		s.mux.Handle("GET /v1/status", d.Operator)
		s.mux.Handle("POST /v1/fence", d.Operator)
		s.mux.Handle("POST /v1/leader/transfer", d.Operator)
	}
	return s
}

// Handler returns the routes behind the identity check, for tests and fuzzing.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(peerKey{}).(string); !ok {
			writeError(w, http.StatusForbidden, errors.New("unidentified peer"))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// WithPeer returns ctx carrying the identity of the calling node.
func WithPeer(ctx context.Context, node string) context.Context {
	return context.WithValue(ctx, peerKey{}, node)
}

// Serve serves RPC connections from l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	connCtx := func(base context.Context, c net.Conn) context.Context {
		return context.WithValue(context.WithValue(base, connKey{}, c), serveKey{}, ctx)
	}
	// The peer is named at the first request, once the TLS handshake is
	// surely complete (the cluster port's mux completes it before handing
	// the connection over; a plain TLS listener completes it on first read).
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			if node, ok := s.d.Identify(c); ok {
				r = r.WithContext(WithPeer(r.Context(), node))
			}
		}
		s.Handler().ServeHTTP(w, r)
	})
	return httpserve.Serve(ctx, l, h, httpserve.Limits{}, s.d.Logger, connCtx)
}

// identifyTLS reads the node from the connection's verified certificate.
func identifyTLS(c net.Conn) (string, bool) {
	for {
		switch t := c.(type) {
		case *tls.Conn:
			id, err := tlsutil.PeerIdentity(t.ConnectionState())
			if err != nil || id.Role != tlsutil.RoleNode {
				return "", false
			}
			return id.Name, true
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return "", false
		}
	}
}

// maxCommand bounds a forwarded command (the state machine bounds what it
// stores far below this).
const maxCommand = 16 << 10

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	peer := r.Context().Value(peerKey{}).(string)
	b, err := io.ReadAll(io.LimitReader(r.Body, maxCommand+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if len(b) > maxCommand {
		writeError(w, http.StatusRequestEntityTooLarge, errors.New("command too large"))
		return
	}
	c, err := state.Decode(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := Authorize(peer, c); err != nil {
		s.warn("refused a forwarded command", "peer", peer, "error", err)
		writeError(w, http.StatusForbidden, err)
		return
	}
	if !s.d.Raft.IsLeader() {
		writeError(w, http.StatusServiceUnavailable, ErrNoLeader)
		return
	}
	if err := s.d.Client.applyRaw(b); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) readIndex(w http.ResponseWriter, r *http.Request) {
	if !s.d.Raft.IsLeader() {
		writeError(w, http.StatusServiceUnavailable, ErrNoLeader)
		return
	}
	idx, err := s.d.Client.ReadIndex(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	// The follower waits until it has applied idx: it may not know yet that
	// the entries up to it committed (back from a restart, it learns that
	// from the next append, up to two commit timeouts away when idle).
	if s.d.PushCommit != nil {
		s.d.PushCommit()
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"index": idx})
}

// warn logs a line caused by remote input, rate limited.
func (s *Server) warn(msg string, args ...any) {
	ok, n := s.rl.Allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	s.d.Logger.Warn(msg, args...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}
