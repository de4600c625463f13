// Package api serves vigil's operator API (HTTP/JSON on a unix socket for
// the CLI, and optionally on TCP with operator certificates) and holds the
// Go client the CLI uses. Node-to-node calls live in cluster/rpc.
package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/internal/httpserve"
	"github.com/vigil-ha/vigil/cluster/rpc"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

// ErrNoLeader is returned when a write cannot reach a leader.
var ErrNoLeader = rpc.ErrNoLeader

// Raft is what the API needs from consensus.
type Raft interface {
	IsLeader() bool
	Leader() (id, addr string)
	LastLeaderContact() time.Time
}

// Deps are the server's collaborators.
type Deps struct {
	Config  *configs.Config
	Store   interface{ Read() *state.Data }
	Raft    Raft
	Applier *rpc.Client // commits operator commands (forwarded when not leader)
	// View builds this node's status (local facts); see status.go.
	View func() Status
	// PeerWarnings are this node's own connection errors with its peers;
	// they are added to a status the leader answered.
	PeerWarnings func() []string
	Members      func() []Member
	Local        func() Local
	// Fence fences a node from the leader and returns once it is confirmed
	// off and committed; nil when no fencing is configured.
	Fence func(ctx context.Context, node, reason string) error
	// ConfirmDown records, on the leader, that an operator confirmed node
	// powered off: no device is used. It refuses a node that shows life.
	ConfirmDown func(ctx context.Context, node string) error
	Logger      hclog.Logger
	Now         func() time.Time

	// FenceCheck checks node's fence devices from this node now.
	FenceCheck func(ctx context.Context, node string) ([]FenceDeviceStatus, error)
	// ForceAlone arms a two_node agent without wait_for_all; nil otherwise.
	ForceAlone func(ctx context.Context) error
}

// Server serves the API.
type Server struct {
	d    Deps
	mux  *http.ServeMux
	live liveConfig // reloaded configuration (reconfig.go)
}

// NewServer builds the handler tree; Serve/ServeUnix start serving.
func NewServer(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{d: d, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/members", s.members)
	s.mux.HandleFunc("GET /v1/history", s.history)
	s.mux.HandleFunc("POST /v1/node/standby", s.standby)
	s.mux.HandleFunc("POST /v1/resource/{op}", s.resource)
	s.mux.HandleFunc("POST /v1/maintenance", s.maintenance)
	s.mux.HandleFunc("POST /v1/fence", s.fence)
	s.mux.HandleFunc("POST /v1/fence/check", s.fenceCheck)
	s.mux.HandleFunc("POST /v1/node/force-alone", s.forceAlone)
	return s
}

// Handler returns the API's routes (the RPC server exposes a few of them to
// other nodes).
func (s *Server) Handler() http.Handler { return s.mux }

// ServeUnix serves the CLI API on a unix socket with mode 0600 until ctx
// ends. It creates the socket's directory (0700) if it is missing.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("api socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		// A stale socket from a crashed agent; a live one would still answer.
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("api socket %s is in use by another agent", path)
		}
		_ = os.Remove(path)
	}
	old := umask(0o177)
	l, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return err
	}
	defer os.Remove(path)
	return httpserve.Serve(ctx, l, s.mux, httpserve.Limits{}, s.d.Logger, nil)
}

// ServeTLS serves the operator API on a TCP listener with mutual TLS: only
// operator certificates signed by the cluster CA are accepted (a node's
// certificate is not an operator credential).
func (s *Server) ServeTLS(ctx context.Context, l net.Listener, base *tls.Config) error {
	return httpserve.Serve(ctx, l, s.mux, httpserve.Limits{TLS: tlsutil.AcceptOperators(base)}, s.d.Logger, nil)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	// Ask the leader (it alone sees every node's cluster link), unless we have
	// not heard from it lately: then it is likely gone and our own view is the
	// best answer, at once rather than after a timeout.
	recent := time.Since(s.d.Raft.LastLeaderContact()) < s.d.Config.Cluster.Timing.Lease
	if r.URL.Query().Get("stale") == "" && !s.d.Raft.IsLeader() && recent {
		if id, addr := s.d.Raft.Leader(); addr != "" {
			var st Status
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := s.d.Applier.Get(ctx, id, addr, "/v1/status?stale=1", &st); err == nil {
				st.Node = s.d.Config.NodeName + " (via " + id + ")"
				if s.d.PeerWarnings != nil {
					for _, w := range s.d.PeerWarnings() {
						st.Warnings = append(st.Warnings, s.d.Config.NodeName+": "+w)
					}
				}
				writeJSON(w, http.StatusOK, st)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, s.d.View())
}

func (s *Server) members(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.d.Members())
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit must be a positive integer, got %q", v))
			return
		}
		limit = n
	}
	ev := s.d.Store.Read().Events
	if len(ev) > limit {
		ev = ev[len(ev)-limit:]
	}
	out := make([]Event, 0, len(ev))
	for _, e := range ev {
		out = append(out, Event(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// write commits an operator command and answers the CLI.
func (s *Server) write(w http.ResponseWriter, r *http.Request, c state.Command) {
	if err := s.d.Applier.Apply(r.Context(), c); err != nil {
		code := http.StatusConflict
		if errors.Is(err, ErrNoLeader) {
			code = http.StatusServiceUnavailable
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// decodeBody reads a small JSON request body, rejecting unknown fields.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return false
	}
	return true
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

// decodeError turns an error response into an error.
func decodeError(resp *http.Response) error {
	var e apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Error == "" {
		return fmt.Errorf("%s", resp.Status)
	}
	return errors.New(e.Error)
}
