package arbitrator

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config configures a Server.
type Config struct {
	// TLS must require and verify client certificates; ClientCAs holds
	// the CA of every cluster served.
	TLS *tls.Config
	// StatePath is the JSON file that keeps the votes across restarts.
	StatePath string
	Logger    hclog.Logger
}

// Server serves the vote. It starts nothing until Serve.
type Server struct {
	cfg Config
	log hclog.Logger

	mu       sync.Mutex
	clusters map[string]*cluster
}

type stateFile struct {
	Clusters map[string]*cluster `json:"clusters"`
}

// New loads the state file (a missing file is an empty state).
func New(cfg Config) (*Server, error) {
	if cfg.TLS == nil || cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("arbitrator: TLS must require and verify client certificates")
	}
	if cfg.StatePath == "" {
		return nil, errors.New("arbitrator: StatePath is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, clusters: map[string]*cluster{}}
	b, err := os.ReadFile(cfg.StatePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("arbitrator state: %w", err)
	default:
		var st stateFile
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("arbitrator state %s: %w", cfg.StatePath, err)
		}
		for name, c := range st.Clusters {
			s.clusters[name] = c
		}
	}
	return s, nil
}

// Serve answers on l (plain TCP; Serve adds TLS) until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	tl := tls.NewListener(l, s.cfg.TLS)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(tl) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		return err
	}
}

// Handler is the HTTP API: POST /v1/vote.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/vote", s.vote)
	return mux
}

func (s *Server) vote(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		http.Error(w, "client certificate required", http.StatusUnauthorized)
		return
	}
	chain := r.TLS.VerifiedChains[0]
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Cluster == "" || req.Node == "" || req.Peer == "" || req.Node == req.Peer {
		http.Error(w, "cluster, node and a different peer are required", http.StatusBadRequest)
		return
	}
	if cn := chain[0].Subject.CommonName; cn != req.Node {
		http.Error(w, fmt.Sprintf("certificate names %q, request speaks for %q", cn, req.Node), http.StatusForbidden)
		return
	}
	sum := sha256.Sum256(chain[len(chain)-1].Raw)
	ca := hex.EncodeToString(sum[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[req.Cluster]
	fresh := c == nil
	if fresh {
		c = &cluster{CA: ca}
	} else if c.CA != ca {
		http.Error(w, "cluster "+req.Cluster+" is bound to another CA", http.StatusForbidden)
		return
	}
	before := *c
	rep, changed := decide(c, req)
	if changed || fresh {
		s.clusters[req.Cluster] = c
		if err := s.save(); err != nil {
			// Without the record a restart could grant the vote twice.
			*c = before
			if fresh {
				delete(s.clusters, req.Cluster)
			}
			s.log.Error("cannot store the vote; refusing", "error", err)
			http.Error(w, "cannot store the vote", http.StatusServiceUnavailable)
			return
		}
	}
	switch {
	case changed && rep.Granted:
		s.log.Warn("vote granted", "cluster", req.Cluster, "node", req.Node, "peer", req.Peer, "state", req.State)
	case changed:
		s.log.Info("vote released", "cluster", req.Cluster, "by", req.Node, "owner", before.Owner)
	case rep.Reason != "" && !rep.Granted && req.State != StatePair:
		s.log.Warn("vote refused", "cluster", req.Cluster, "node", req.Node, "reason", rep.Reason)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// save writes the state file atomically and durably.
func (s *Server) save() error {
	b, err := json.MarshalIndent(stateFile{Clusters: s.clusters}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.cfg.StatePath)
	f, err := os.CreateTemp(dir, ".arbitrator-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), s.cfg.StatePath); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
