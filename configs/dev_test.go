package configs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/builtin"
)

func TestDevValidates(t *testing.T) {
	dir := t.TempDir()
	c := Dev(dir)
	if err := Validate(c, builtin.Schemas()); err != nil {
		t.Fatalf("Validate(Dev()): %v", err)
	}
	if !c.Dev || c.NodeName != "dev" || c.Local().Name != "dev" {
		t.Errorf("Dev() node = %q dev=%v", c.NodeName, c.Dev)
	}
	if c.Cluster.Bind != "127.0.0.1:7300" || c.Cluster.Heartbeat != "127.0.0.1:7301" || c.Cluster.Timing.Preset != "fast" {
		t.Errorf("Dev() cluster = %+v", c.Cluster)
	}
	if c.Cluster.API.Socket != filepath.Join(dir, "vigil.sock") {
		t.Errorf("Dev() socket = %q", c.Cluster.API.Socket)
	}
	if len(c.Groups) != 1 || c.Groups[0].Name != "demo" || len(c.Groups[0].Resources) != 1 {
		t.Fatalf("Dev() groups = %+v", c.Groups)
	}
	other := DevAt(dir, "127.0.0.1:17300", "127.0.0.1:17301")
	if err := Validate(other, builtin.Schemas()); err != nil || other.Local().Address != "127.0.0.1:17300" || other.Cluster.Heartbeat != "127.0.0.1:17301" {
		t.Errorf("DevAt: %v, %+v", err, other.Cluster)
	}
}

// The demo resource must really start, report and stop with /bin/sh, even
// when the data directory has a space and a quote in its name.
func TestDevDemoResourceCommandsWork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := Dev(dir).Groups[0].Resources[0].Params
	sh := func(cmd string) error { return exec.Command("/bin/sh", "-c", cmd).Run() }
	var exit *exec.ExitError
	// LSB status: 3 = stopped, which the exec agent treats as cleanly stopped.
	if err := sh(p["status"]); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("status before start = %v, want exit status 3", err)
	}
	if err := sh(p["start"]); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := sh(p["status"]); err != nil {
		t.Fatalf("status after start: %v", err)
	}
	if err := sh(p["stop"]); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := sh(p["stop"]); err != nil {
		t.Fatalf("second stop must succeed (idempotent): %v", err)
	}
	if err := sh(p["status"]); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("status after stop = %v, want exit status 3", err)
	}
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	c := Dev(t.TempDir())
	c.Dev = false // now TLS and a gossip key are required
	c.Cluster.GossipKey = []byte("short")
	c.Groups[0].Resources[0].Params["bogus"] = "1"
	delete(c.Groups[0].Resources[0].Params, "stop")
	c.Nodes = append(c.Nodes, Node{Name: "two", Address: "127.0.0.1:7300", Heartbeat: "127.0.0.1:7401"})
	err := Validate(c, builtin.Schemas())
	var ds Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("Validate = %v, want Diagnostics", err)
	}
	got := err.Error()
	for _, w := range []string{
		"cluster.gossip_key_file: gossip key is 5 bytes; it must be 16, 24 or 32",
		"cluster.tls: ca_file is required",
		"node.two.address: 127.0.0.1:7300 is already used by node.dev.address",
		"node: 2 voting nodes (witnesses included) is an even number: raft needs a majority",
		`group.demo.resource.hello.bogus: unknown key "bogus"`,
		`group.demo.resource.hello: missing required key "stop"`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	for _, d := range ds {
		if d.File != "" || d.Line != 0 {
			t.Errorf("code-built config diagnostic has a position: %+v", d)
		}
	}
}

func TestTwoNodeModeIsAccepted(t *testing.T) {
	witness := "node \"witness\" {\n  address   = \"198.18.0.13:7300\"\n  heartbeat = \"198.18.1.13:7301\"\n  witness   = true\n}\n"
	text := applyEdits(t, validConfig, []edit{
		{witness, ""},
		{`  timing          = "fast"`, "  timing          = \"fast\"\n  two_node        = true"},
	})
	c, err := loadBuiltin(setup(t, text))
	if err != nil {
		t.Fatalf("two_node = true with two nodes: %v", err)
	}
	if !c.Cluster.TwoNode || len(c.Nodes) != 2 {
		t.Errorf("TwoNode = %v, nodes = %d", c.Cluster.TwoNode, len(c.Nodes))
	}
}
