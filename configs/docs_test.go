package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The complete example in docs/configuration.md must load as documented.
func TestDocumentedExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Complete example")
	if !ok {
		t.Fatal("no complete example in docs/configuration.md")
	}
	_, rest, _ = strings.Cut(rest, "```hcl\n")
	example, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("unterminated example")
	}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeSecrets(t, dir)
	for from, to := range map[string]string{"ca.pem": "tls/ca.pem", "node.pem": "tls/lb1.pem", "node-key.pem": "tls/lb1-key.pem"} {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, dir, "apc.pw", "apc\n", 0o600)
	if err := os.Mkdir(filepath.Join(dir, "alerts"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "alerts/webhook.sh", "#!/bin/sh\n", 0o755)
	path := writeFile(t, dir, "vigil.hcl", strings.ReplaceAll(example, "/etc/vigil/", dir+"/"), 0o644)

	c, err := loadBuiltin(path)
	if err != nil {
		t.Fatalf("documented example does not load:\n%v", err)
	}
	if got := c.Nodes[1].Fence; len(got) != 2 || len(got[0].Devices) != 2 {
		t.Errorf("lb2 fence levels = %+v", got)
	}
	if c.Telemetry.Listen == "" || len(c.Alerts) != 1 || c.Alerts[0].Timeout != 10*time.Second {
		t.Errorf("telemetry %+v alerts %+v", c.Telemetry, c.Alerts)
	}
	if c.Cluster.Timing.Preset != "fast" || len(c.Groups) != 2 || len(c.Checks) != 1 {
		t.Errorf("loaded %+v", c)
	}
}
