package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
)

// runUI runs one CLI invocation against a mock UI.
func runUI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ui := cli.NewMockUi()
	c := cli.NewCLI("vigil", "test")
	c.Args = args
	c.Commands = commands(ui)
	c.HelpWriter = ui.ErrorWriter
	code, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
}

func TestValidateReportsFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.hcl")
	cfg := `node_name = "lb1"
data_dir  = "/var/lib/vigil"
cluster {
  name      = "edge"
  bind      = "10.0.0.1"
  heartbeat = "192.168.100.11:7301"
  timing    = "fast"
  bogus     = 1
}
node "lb1" {
  address   = "10.0.0.11:7300"
  heartbeat = "192.168.100.11:7301"
}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runUI(t, "config", "validate", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{path + ":8:", "bogus", path + ":5:", "cluster.bind"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestClientErrorsAreOneLineAndNonZero(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut := runUI(t, "status", "-address", sock)
	if code != 1 || !strings.Contains(errOut, "cannot reach the vigil agent") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runUI(t, "node", "standby"); code != 1 || !strings.Contains(errOut, "wrong number of arguments") {
		t.Fatalf("missing arg: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runUI(t, "status", "-nope"); code != 1 || !strings.Contains(errOut, "flag provided but not defined") {
		t.Fatalf("bad flag: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runUI(t, "maintenance", "maybe"); code != 1 || !strings.Contains(errOut, "want on or off") {
		t.Fatalf("bad word: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runUI(t, "status", "-address", "http://x"); code != 1 || !strings.Contains(errOut, "unsupported API address") {
		t.Fatalf("bad address: exit %d, stderr %q", code, errOut)
	}
}

func TestKeygenAndTLS(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "gossip.key")
	if code, _, e := runUI(t, "keygen", "-out", key); code != 0 {
		t.Fatalf("keygen: %d %s", code, e)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	if code, _, _ := runUI(t, "keygen", "-out", key); code != 1 {
		t.Fatal("keygen overwrote an existing key")
	}
	if code, _, e := runUI(t, "tls", "ca", "create", "-dir", dir); code != 0 {
		t.Fatalf("ca: %s", e)
	}
	if code, _, e := runUI(t, "tls", "cert", "create", "-dir", dir, "-node", "lb1", "-ip", "198.18.0.11"); code != 0 {
		t.Fatalf("cert: %s", e)
	}
	if code, _, e := runUI(t, "tls", "cert", "create", "-dir", dir, "-node", "lb2", "-ip", "not-an-ip"); code != 1 || !strings.Contains(e, "not an IP") {
		t.Fatalf("bad ip: %d %s", code, e)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "lb1.pem", "lb1-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
