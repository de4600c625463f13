package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// Deps are the server's collaborators.
type Deps struct {
	Config  *configs.Config
	Store   interface{ Read() *state.Data }
	Raft    Raft
	Applier *Applier
	// View builds this node's status (local facts); see status.go.
	View    func() Status
	Members func() []Member
	Local   func() Local
	// Fence fences a node from the leader and returns once it is confirmed
	// off and committed; nil when no fencing is configured.
	Fence  func(ctx context.Context, node, reason string) error
	Logger hclog.Logger
	Now    func() time.Time

	// FenceCheck checks node's fence devices from this node now.
	FenceCheck func(ctx context.Context, node string) ([]FenceDeviceStatus, error)
	// ForceAlone arms a two_node agent without wait_for_all; nil otherwise.
	ForceAlone func(ctx context.Context) error
}

// Server serves the API.
type Server struct {
	d   Deps
	mux *http.ServeMux
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

// ServeUnix serves the CLI API on a unix socket with mode 0600 until ctx ends.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
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
	return s.serve(ctx, l, s.mux)
}

// ServeTLS serves the CLI API on a TCP listener that already does mutual TLS
// (clients present a certificate signed by the cluster CA).
func (s *Server) ServeTLS(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, l, s.mux)
}

// ServeRPC serves node-to-node requests (forwarded reads and writes) on the
// cluster port's mTLS RPC channel.
func (s *Server) ServeRPC(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/v1/", s.mux)
	mux.HandleFunc("POST /v1/internal/apply", s.internalApply)
	mux.HandleFunc("GET /v1/internal/readindex", s.readIndex)
	mux.HandleFunc("GET /v1/internal/local", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.d.Local())
	})
	return s.serve(ctx, l, mux)
}

func (s *Server) serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	// Ask the leader (it alone sees every node's cluster link), unless we have
	// not heard from it lately: then it is likely gone and our own view is the
	// best answer, at once rather than after a timeout.
	recent := time.Since(s.d.Raft.LastLeaderContact()) < s.d.Config.Cluster.Timing.Lease
	if r.URL.Query().Get("stale") == "" && !s.d.Raft.IsLeader() && recent {
		if id, addr := s.d.Raft.Leader(); addr != "" && s.d.Applier.Dial != nil {
			var st Status
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := s.d.Applier.Get(ctx, id, addr, "/v1/status?stale=1", &st); err == nil {
				st.Node = s.d.Config.NodeName + " (via " + id + ")"
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

func (s *Server) internalApply(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if _, err := state.Decode(b); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if !s.d.Raft.IsLeader() {
		writeError(w, http.StatusServiceUnavailable, ErrNoLeader)
		return
	}
	if err := s.d.Applier.applyRaw(r.Context(), b); err != nil {
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
	idx, err := s.d.Applier.ReadIndex(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"index": idx})
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

func decodeError(resp *http.Response) error {
	var e apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Error == "" {
		return fmt.Errorf("%s", resp.Status)
	}
	return errors.New(e.Error)
}
