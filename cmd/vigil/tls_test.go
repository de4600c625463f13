package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
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
	admin, adminKey, err := tlsutil.CreateCert(caCert, caKey, dir, "admin", nil, nil)
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
	ocert, okey, _ := tlsutil.CreateCert(oca, ocaKey, other, "admin", nil, nil)
	if code, _, e := runUI(t, "status", "-address", url, "-ca-file", caCert, "-cert-file", ocert, "-key-file", okey); code != 1 {
		t.Fatalf("foreign client cert accepted: %s", e)
	}
}
