package configs

import (
	"strings"
	"testing"
	"time"
)

// monitor_interval: 60 s by default (Pacemaker's stonith monitor), settable
// per device, 0 turns the check off, negative is an error at its key.
func TestFenceMonitorInterval(t *testing.T) {
	text := strings.Replace(validConfig, "  retries       = 3\n", "  retries       = 3\n  monitor_interval = \"5s\"\n", 1)
	cfg, err := loadBuiltin(setup(t, text))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Duration{}
	for _, f := range cfg.Fences {
		got[f.Name] = f.MonitorInterval
	}
	if got["lb1-bmc"] != 5*time.Second || got["lb2-bmc"] != time.Minute {
		t.Fatalf("monitor intervals %v, want lb1-bmc 5s and the 60s default elsewhere", got)
	}
	bad := strings.Replace(validConfig, "  retries       = 3\n", "  retries       = 3\n  monitor_interval = \"-1s\"\n", 1)
	_, err = loadBuiltin(setup(t, bad))
	if err == nil || !strings.Contains(err.Error(), "fence.lb1-bmc.monitor_interval") {
		t.Fatalf("negative monitor_interval: %v", err)
	}
}
