package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

// TestAPIOverMutualTLS runs a one-node cluster with TLS on the cluster port
// and the API on TCP, and drives it with the CLI over HTTPS: a client
// certificate from the cluster CA is required.
func TestAPIOverMutualTLS(t *testing.T) {
	dir, err := os.MkdirTemp("", "vt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caCert, caKey, err := tlsutil.CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := tlsutil.CreateCert(caCert, caKey, dir, "n1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, adminKey, err := tlsutil.CreateOperatorCert(caCert, caKey, dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	keyFile := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	bind, hb, apiAddr := freePort(t), freePort(t), freePort(t)
	cfgText := `node_name = "n1"
data_dir  = "` + filepath.Join(dir, "data") + `"
cluster {
  name            = "tls"
  bind            = "` + bind + `"
  heartbeat       = "` + hb + `"
  gossip_key_file = "` + keyFile + `"
  timing          = "fast"
  two_node        = false
  tls {
    ca_file   = "` + caCert + `"
    cert_file = "` + cert + `"
    key_file  = "` + key + `"
  }
  api {
    address = "` + apiAddr + `"
  }
}
node "n1" {
  address   = "` + bind + `"
  heartbeat = "` + hb + `"
}
`
	path := filepath.Join(dir, "vigil.hcl")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path, builtin.Schemas())
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Deps{Config: cfg, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn}),
		Resources: resourceRegistry(), Fencers: fenceRegistry(), Checks: checkRegistry(), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	url := "https://" + apiAddr
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runUI(t, "status", "-address", url, "-ca-file", caCert, "-cert-file", admin, "-key-file", adminKey)
		if code == 0 && strings.Contains(out, "leader n1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status over mTLS: %d %s %s", code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Without a client certificate the CLI refuses to even try.
	if code, _, e := runUI(t, "status", "-address", url); code != 1 || !strings.Contains(e, "needs client TLS") {
		t.Fatalf("no client cert: %d %s", code, e)
	}
	// A certificate from another CA is rejected by the agent.
	other := t.TempDir()
	oca, ocaKey, _ := tlsutil.CreateCA(other)
	ocert, okey, _ := tlsutil.CreateOperatorCert(oca, ocaKey, other, "admin")
	if code, _, e := runUI(t, "status", "-address", url, "-ca-file", caCert, "-cert-file", ocert, "-key-file", okey); code != 1 {
		t.Fatalf("foreign client cert accepted: %s", e)
	}
	// The node's own certificate (on every node's disk) is not an operator
	// credential: the TCP API refuses it.
	if code, _, e := runUI(t, "node", "standby", "n1", "-address", url, "-ca-file", caCert, "-cert-file", cert, "-key-file", key); code != 1 {
		t.Fatalf("node certificate accepted as an operator: %s", e)
	}
	if code, out, _ := runUI(t, "status", "-address", url, "-ca-file", caCert, "-cert-file", admin, "-key-file", adminKey); code != 0 || strings.Contains(out, "standby") {
		t.Fatalf("after the refused standby: %d %s", code, out)
	}
	clusterPortAttacks(t, bind, url, caCert, admin, adminKey, cert, key)
}

// clusterPortAttacks: on the real cluster port, an operator certificate is
// refused at the handshake, and the node's own certificate may not commit a
// decision only the leader makes (node status), nor send oversized bodies.
func clusterPortAttacks(t *testing.T, bind, url, caCert, admin, adminKey, cert, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := tlsutil.Load(caCert, admin, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := consensus.DialRPC(ctx, bind, "n1", op); err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("GET /v1/internal/readindex HTTP/1.1\r\nHost: n1\r\n\r\n"))
		if n, _ := c.Read(make([]byte, 64)); n > 0 {
			t.Error("operator certificate served on the cluster port")
		}
		c.Close()
	}
	node, err := tlsutil.Load(caCert, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return consensus.DialRPC(ctx, bind, "n1", node)
	}}}
	post := func(body []byte) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://n1/v1/internal/apply", bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	b, _ := state.Encode(&state.SetNodeStatus{Node: "n1", Status: state.NodeFenced, Time: time.Now()})
	if code := post(b); code != http.StatusForbidden {
		t.Errorf("node status over the wire: %d, want 403", code)
	}
	if code := post(bytes.Repeat([]byte("x"), 2<<20)); code != http.StatusRequestEntityTooLarge && code != 0 {
		t.Errorf("2 MB body: %d, want 413 or a closed connection", code)
	}
	// The refused write left nothing behind.
	code, out, errOut := runUI(t, "history", "-address", url, "-ca-file", caCert, "-cert-file", admin, "-key-file", adminKey)
	if code != 0 || strings.Contains(out, "fenced") {
		t.Errorf("history after the refused write: %d %s %s", code, out, errOut)
	}
}
