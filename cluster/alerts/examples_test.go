package alerts

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
)

func exampleEnv(t *testing.T, recipient string) []string {
	ev := Event{Kind: "node", Name: "node-failed", Node: "lb1", Result: "failed",
		Message: `node lb1 online -> failed: lost "both" links\ (test)`, Time: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), Sequence: 42}
	env := Env(configs.Alert{Name: "ex", Recipient: recipient}, ev, "edge", "w")
	// The hooks run with the agent's clean PATH; the test's tools are there too.
	return append(env[1:], "PATH="+os.Getenv("PATH"))
}

// The curl example posts valid JSON with the event's fields.
func TestWebhookExample(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body is not JSON: %v\n%s", err, b)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		got <- m
	}))
	defer srv.Close()
	cmd := exec.Command("../../examples/alerts/webhook.sh")
	cmd.Env = exampleEnv(t, srv.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("webhook.sh: %v\n%s", err, out)
	}
	m := <-got
	if m["event"] != "node-failed" || m["node"] != "lb1" || m["sequence"] != float64(42) ||
		m["text"] != `[edge] node lb1 online -> failed: lost "both" links\ (test)` || m["reported_by"] != "w" {
		t.Errorf("webhook got %v", m)
	}
}

// The syslog example calls logger(1) with a tag, a priority and the event.
func TestSyslogExample(t *testing.T) {
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	fake := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + args + "\n"
	if err := os.WriteFile(filepath.Join(dir, "logger"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("../../examples/alerts/syslog.sh")
	cmd.Env = append(exampleEnv(t, ""), "PATH="+dir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("syslog.sh: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(args)
	want := "-t\nvigil-alert\n-p\ndaemon.warning\n--\ncluster=edge kind=node event=node-failed node=lb1 group= seq=42: node lb1"
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("logger got\n%s\nwant\n%s...", b, want)
	}
}
