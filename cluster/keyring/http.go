package keyring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Paths: the operator's (unix socket / operator TLS) and the node-to-node
// one (cluster port RPC, identified by node certificate).
const (
	OperatorPath = "/v1/keyring"
	LocalPath    = "/v1/internal/keyring"
)

// Request is the body of POST OperatorPath and POST LocalPath. Key is the
// base64 key; it is never logged nor returned.
type Request struct {
	Op  string `json:"op"`
	Key string `json:"key"`
}

// NodeResult is one node's answer.
type NodeResult struct {
	Node string `json:"node"`
	Listing
	Error string `json:"error,omitempty"`
}

// Reply is the answer to the operator: one result per configured node.
type Reply struct {
	Nodes []NodeResult `json:"nodes"`
}

// Failed lists the nodes that answered with an error.
func (r Reply) Failed() []string {
	var out []string
	for _, n := range r.Nodes {
		if n.Error != "" {
			out = append(out, n.Node)
		}
	}
	return out
}

// Node is a configured node: its name and cluster port address.
type Node struct{ Name, Address string }

// Caller sends a JSON request to a node's RPC server over the cluster port
// (mutual TLS, the node named by its certificate) and decodes the answer.
type Caller func(ctx context.Context, n Node, method, path string, in, out any) error

// Service serves the keyring API of one node.
type Service struct {
	Ring  *Ring
	Self  string
	Nodes []Node // every configured node, self included
	Call  Caller
	// Timeout bounds each node's answer; 0 means 5s.
	Timeout time.Duration
}

// Local serves LocalPath: this node's own ring. It is reachable from other
// nodes only (the RPC server checks their certificate).
func (s *Service) Local() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.Ring.List())
		case http.MethodPost:
			op, key, err := decodeRequest(r)
			if err == nil {
				err = s.Ring.Apply(op, key)
			}
			if err != nil {
				writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, s.Ring.List())
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

// Operator serves OperatorPath: GET lists every node's ring, POST applies
// an operation on every node. `use` and `remove` first check every node:
// they are refused unless each node answers and holds the key (use), or no
// node encrypts with it (remove), because a node left behind would lose the
// heartbeat link. The reply is 200 with per-node results; the CLI fails if
// any node failed.
func (s *Service) Operator() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.fanout(r.Context(), http.MethodGet, nil))
		case http.MethodPost:
			op, key, err := decodeRequest(r)
			if err == nil {
				err = s.preflight(r.Context(), op, key)
			}
			if err != nil {
				writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, s.fanout(r.Context(), http.MethodPost, &Request{Op: op, Key: encode(key)}))
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

func (s *Service) preflight(ctx context.Context, op string, key []byte) error {
	switch op {
	case OpInstall:
		return nil
	case OpUse, OpRemove:
	default:
		return fmt.Errorf("unknown keyring operation %q (install, use or remove)", op)
	}
	fp := Fingerprint(key)
	var problems []string
	for _, n := range s.fanout(ctx, http.MethodGet, nil).Nodes {
		switch {
		case n.Error != "":
			problems = append(problems, fmt.Sprintf("%s did not answer (%s)", n.Node, n.Error))
		case op == OpUse && !contains(n.Keys, fp):
			problems = append(problems, fmt.Sprintf("%s does not hold key %s", n.Node, fp))
		case op == OpRemove && n.Primary == fp:
			problems = append(problems, fmt.Sprintf("%s still encrypts with key %s", n.Node, fp))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	why := "every node must hold the key before it is used (`vigil keyring install` it first)"
	if op == OpRemove {
		why = "a key is removed only once no node encrypts with it (`vigil keyring use` the new key first)"
	}
	return fmt.Errorf("keyring %s refused, nothing changed: %s; %s", op, strings.Join(problems, "; "), why)
}

// fanout runs the request on every node at once (ourselves directly).
func (s *Service) fanout(ctx context.Context, method string, req *Request) Reply {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	out := make([]NodeResult, len(s.Nodes))
	var wg sync.WaitGroup
	for i, n := range s.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := NodeResult{Node: n.Name}
			var err error
			if n.Name == s.Self {
				err = s.local(req, &res.Listing)
			} else {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				var in any
				if req != nil {
					in = req
				}
				err = s.Call(cctx, n, method, LocalPath, in, &res.Listing)
				cancel()
			}
			if err != nil {
				res.Error = err.Error()
			}
			out[i] = res
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return Reply{Nodes: out}
}

func (s *Service) local(req *Request, l *Listing) error {
	if req != nil {
		key, err := decode(req.Key)
		if err != nil {
			return err
		}
		if err := s.Ring.Apply(req.Op, key); err != nil {
			return err
		}
	}
	*l = s.Ring.List()
	return nil
}

func decodeRequest(r *http.Request) (string, []byte, error) {
	var req Request
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
		return "", nil, fmt.Errorf("bad request body: %w", err)
	}
	key, err := decode(req.Key)
	if err != nil {
		return "", nil, fmt.Errorf("key %w", err)
	}
	return req.Op, key, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
