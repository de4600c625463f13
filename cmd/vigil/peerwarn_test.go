package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// TestStatusShowsPeerCertificateAndKeyErrors: n2 was given a certificate
// from another CA and another gossip key. Each node's own status says why
// it cannot reach the other, instead of only "no leader".
func TestStatusShowsPeerCertificateAndKeyErrors(t *testing.T) {
	dir := t.TempDir()
	pki := map[string][3]string{} // node -> ca, cert, key
	for _, n := range []string{"n1", "n2"} {
		d := filepath.Join(dir, n)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		ca, caKey, err := tlsutil.CreateCA(d) // one CA each: the mistake under test
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := tlsutil.CreateCert(ca, caKey, d, n, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		if err := os.WriteFile(filepath.Join(d, "gossip.key"), []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
			t.Fatal(err)
		}
		pki[n] = [3]string{ca, c, k}
	}
	port := func(ip string) string {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	addr := map[string][2]string{
		"n1": {port("127.0.0.41"), port("127.0.0.41")},
		"n2": {port("127.0.0.42"), port("127.0.0.42")},
		"n3": {port("127.0.0.43"), port("127.0.0.43")},
	}
	socks := map[string]string{}
	for _, n := range []string{"n1", "n2"} {
		d := filepath.Join(dir, n)
		var nodes strings.Builder
		for _, m := range []string{"n1", "n2", "n3"} {
			fmt.Fprintf(&nodes, "node %q {\n  address = %q\n  heartbeat = %q\n}\n", m, addr[m][0], addr[m][1])
		}
		text := fmt.Sprintf(`node_name = %q
data_dir  = %q
cluster {
  name            = "warn"
  gossip_key_file = %q
  timing          = "fast"
  tls {
    ca_file   = %q
    cert_file = %q
    key_file  = %q
  }
}
%s`, n, filepath.Join(d, "data"), filepath.Join(d, "gossip.key"), pki[n][0], pki[n][1], pki[n][2], nodes.String())
		path := filepath.Join(d, "vigil.hcl")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadAgentConfig(path, false, "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Deps{Config: cfg, Logger: hclog.NewNullLogger(), Resources: resourceRegistry(),
			Fencers: fenceRegistry(), Checks: checkRegistry(), Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		socks[n] = filepath.Join(d, "data", "vigil.sock")
	}
	want := map[string][]string{
		"n1": {"n2 presents a certificate from another CA", "gossip key mismatch (cannot decrypt) with n2"},
		"n2": {"n1 presents a certificate from another CA", "gossip key mismatch (cannot decrypt) with n1"},
	}
	for n, wants := range want {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var warnings string
			if c, err := api.NewClient("unix://"+socks[n], nil); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				st, err := c.Status(ctx, true)
				cancel()
				if err == nil {
					warnings = strings.Join(st.Warnings, "\n")
				}
			}
			missing := ""
			for _, w := range wants {
				if !strings.Contains(warnings, w) {
					missing = w
				}
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s status warnings lack %q:\n%s", n, missing, warnings)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
