package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTelemetryAndAlertsLoad(t *testing.T) {
	dir := t.TempDir()
	writeSecrets(t, dir)
	hook := writeFile(t, dir, "hook.sh", "#!/bin/sh\n", 0o755)
	text := validConfig + `
telemetry {
  listen = "127.0.0.1:9464"
}
alert "pager" {
  exec      = "hook.sh"
  args      = ["-v"]
  timeout   = "5s"
  events    = ["node", "fence"]
  recipient = "https://hooks.example/x"
}
alert "log" {
  exec = "` + hook + `"
}
`
	c, err := loadBuiltin(writeFile(t, dir, "vigil.hcl", text, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	if c.Telemetry.Listen != "127.0.0.1:9464" {
		t.Errorf("telemetry.listen = %q", c.Telemetry.Listen)
	}
	if len(c.Alerts) != 2 {
		t.Fatalf("alerts = %+v", c.Alerts)
	}
	p := c.Alerts[0]
	if p.Name != "pager" || p.Exec != hook || p.Timeout != 5*time.Second || !slices.Equal(p.Events, []string{"node", "fence"}) ||
		p.Recipient != "https://hooks.example/x" || !slices.Equal(p.Args, []string{"-v"}) {
		t.Errorf("pager = %+v (relative exec is taken from the config's directory)", p)
	}
	if l := c.Alerts[1]; l.Timeout != 30*time.Second || !slices.Equal(l.Events, AlertEventKinds()) {
		t.Errorf("defaults: %+v", l)
	}
}

func TestTelemetryIsOffByDefault(t *testing.T) {
	c, err := loadBuiltin(setup(t, validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Telemetry.Listen != "" || len(c.Alerts) != 0 {
		t.Errorf("telemetry %+v alerts %+v", c.Telemetry, c.Alerts)
	}
}

func TestAlertProblemsAreReportedAtTheirKeys(t *testing.T) {
	dir := t.TempDir()
	writeSecrets(t, dir)
	writeFile(t, dir, "noexec.sh", "#!/bin/sh\n", 0o644)
	ww := writeFile(t, dir, "ww.sh", "#!/bin/sh\n", 0o755)
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	text := validConfig + `
telemetry { listen = "9464" }
alert "a" { exec = "missing.sh" }
alert "b" { exec = "noexec.sh" }
alert "c" {
  exec    = "ww.sh"
  events  = ["node", "moon"]
  timeout = "0s"
}
alert "d" { events = ["node"] }
alert "a" { exec = "noexec.sh" }
`
	_, err := loadBuiltin(writeFile(t, dir, "vigil.hcl", text, 0o644))
	if err == nil {
		t.Fatal("loaded")
	}
	ds := diagsOf(t, err)
	want := map[string]string{
		"telemetry.listen": `"9464" is not host:port`,
		"alert.a.exec":     "cannot read '" + filepath.Join(dir, "missing.sh") + "'",
		"alert.b.exec":     "is not executable",
		"alert.c.exec":     "world-writable",
		"alert.c.events":   `unknown event "moon"`,
		"alert.c.timeout":  "must be positive",
		"alert.d.exec":     "is required",
		"alert.a":          "defined twice",
	}
	for key, msg := range want {
		found := false
		for _, d := range ds {
			if d.Key == key && strings.Contains(d.Msg, msg) && d.Line > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no diagnostic %s: %s in\n%v", key, msg, err)
		}
	}
}
