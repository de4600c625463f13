package main

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// secConfig writes a one-node config for n1 using the given TLS files and
// extra HCL, and returns its path.
func secConfig(t *testing.T, dir, ca, cert, key, dataDir, extra string) string {
	t.Helper()
	keyFile := filepath.Join(dir, "gossip.key")
	if _, err := os.Stat(keyFile); err != nil {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := `node_name = "n1"
data_dir  = "` + dataDir + `"
cluster {
  name            = "sec"
  bind            = "127.0.0.1:17300"
  heartbeat       = "127.0.0.1:17301"
  gossip_key_file = "` + keyFile + `"
  two_node        = false
  tls {
    ca_file   = "` + ca + `"
    cert_file = "` + cert + `"
    key_file  = "` + key + `"
  }
}
node "n1" {
  address   = "127.0.0.1:17300"
  heartbeat = "127.0.0.1:17301"
}
` + extra
	path := filepath.Join(dir, "vigil.hcl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidateRunsTheAgentsChecks: `config validate` refuses what the agent
// would refuse at start (certificate of another node or CA, a resource the
// agent rejects, a data_dir others can write) with a clear message, and
// accepts the corrected config.
func TestValidateRunsTheAgentsChecks(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, err := tlsutil.CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	ip := []net.IP{net.ParseIP("127.0.0.1")}
	cert, key, err := tlsutil.CreateCert(ca, caKey, dir, "n1", ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert2, key2, err := tlsutil.CreateCert(ca, caKey, dir, "n2", ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	oca, ocaKey, _ := tlsutil.CreateCA(other)
	ocert, okey, err := tlsutil.CreateCert(oca, ocaKey, other, "n1", ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	opCert, opKey, err := tlsutil.CreateOperatorCert(ca, caKey, dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o777)
	garp := `group "web" {
  resource "ipaddr" "vip" {
    address      = "198.18.0.100/24"
    interface    = "lo"
    garp_refresh = "300ms"
  }
}
`
	cases := []struct {
		name, cert, key, data, extra, want string
	}{
		{"another node's certificate", cert2, key2, data, "", "is for node n2, but this is node n1"},
		{"another CA", ocert, okey, data, "", "does not chain to the CA"},
		{"operator certificate as node", opCert, opKey, data, "", "is for operator alice"},
		{"world-writable data_dir", cert, key, open, "", "must not be writable by group or others"},
		{"garp_refresh the agent refuses", cert, key, data, garp, "garp_refresh"},
	}
	for _, c := range cases {
		sub := t.TempDir()
		path := secConfig(t, sub, ca, c.cert, c.key, c.data, c.extra)
		code, out, errOut := runUI(t, "config", "validate", path)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 mentioning %q", c.name, code, out, errOut, c.want)
		}
	}
	path := secConfig(t, t.TempDir(), ca, cert, key, data, "")
	if code, out, errOut := runUI(t, "config", "validate", path); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("good config: %d %s %s", code, out, errOut)
	}
}

// TestCertCreateRefusesReadableCAKey: the CA key signs every identity in
// the cluster, so `tls cert create` refuses one that others can read.
func TestCertCreateRefusesReadableCAKey(t *testing.T) {
	dir := t.TempDir()
	if code, _, e := runUI(t, "tls", "ca", "create", "-dir", dir); code != 0 {
		t.Fatal(e)
	}
	if err := os.Chmod(filepath.Join(dir, "ca-key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, e := runUI(t, "tls", "cert", "create", "-dir", dir, "-node", "n1")
	if code != 1 || !strings.Contains(e, "must not be accessible by group or others") {
		t.Fatalf("readable CA key: %d %s", code, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1.pem")); err == nil {
		t.Fatal("certificate written with a readable CA key")
	}
	_ = os.Chmod(filepath.Join(dir, "ca-key.pem"), 0o600)
	if code, out, e := runUI(t, "tls", "cert", "create", "-dir", dir, "-operator", "alice"); code != 0 || !strings.Contains(out, "operator-alice.pem") {
		t.Fatalf("operator cert: %d %s %s", code, out, e)
	}
	if code, _, e := runUI(t, "tls", "cert", "create", "-dir", dir, "-node", "n1", "-operator", "bob"); code != 1 || !strings.Contains(e, "exactly one") {
		t.Fatalf("both -node and -operator: %d %s", code, e)
	}
}
