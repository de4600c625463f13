package main

import (
	"os"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/configs"
)

func TestCheckAgentsReadsOCFMetaData(t *testing.T) {
	if _, err := os.Stat("/usr/lib/ocf/resource.d/heartbeat/Dummy"); err != nil {
		t.Skip("Debian's resource-agents is not installed (.ci/run installs it)")
	}
	cfg := func(params map[string]string) *configs.Config {
		params["agent"] = "heartbeat:Dummy"
		return &configs.Config{Groups: []configs.Group{{Name: "web", Resources: []configs.Resource{
			{Type: "ocf", Name: "d", Params: params}}}}}
	}
	if err := checkAgents(cfg(map[string]string{"params.state": "/tmp/x"})); err != nil {
		t.Fatalf("valid Dummy params refused: %v", err)
	}
	err := checkAgents(cfg(map[string]string{"params.bogus": "1"}))
	if err == nil || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), "group.web.resource.d") {
		t.Fatalf("unknown OCF parameter: err = %v", err)
	}
	c := cfg(map[string]string{})
	c.Groups[0].Resources[0].Params["agent"] = "heartbeat:NoSuchAgent"
	if err := checkAgents(c); err == nil {
		t.Fatal("a missing OCF agent was accepted")
	}
}
