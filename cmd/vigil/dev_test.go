package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/configs"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDevAgentAndCLI runs the -dev agent in-process and drives it with the
// real CLI commands: status, standby/online, maintenance, history.
func TestDevAgentAndCLI(t *testing.T) {
	dir, err := os.MkdirTemp("", "vd-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := configs.DevAt(dir, freePort(t), freePort(t))
	if err := configs.Validate(cfg, builtin.Schemas()); err != nil {
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir + "/demo-hello.started"); err == nil {
			t.Error("demo resource still running after shutdown")
		}
	})
	addr := "unix://" + cfg.Cluster.API.Socket
	status := func() api.Status {
		t.Helper()
		code, out, e := runUI(t, "status", "-json", "-address", addr)
		if code != 0 {
			return api.Status{}
		}
		var st api.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status -json: %v\n%s\n%s", err, out, e)
		}
		return st
	}
	waitGroup := func(want string) api.Status {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := status()
			if len(st.Groups) == 1 && st.Groups[0].State == want {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("group never %s: %+v", want, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	st := waitGroup("started")
	if st.Leader != "dev" || !st.Quorum || st.Groups[0].Node != "dev" || st.Groups[0].Resources[0].State != "running" {
		t.Fatalf("status: %+v", st)
	}
	if _, err := os.Stat(dir + "/demo-hello.started"); err != nil {
		t.Fatal("demo resource not really started")
	}
	if code, _, e := runUI(t, "node", "standby", "-address", addr, "dev"); code != 0 {
		t.Fatal(e)
	}
	st = waitGroup("stopped")
	if !strings.Contains(st.Groups[0].Reason, "standby") || st.Nodes[0].State != "standby" {
		t.Fatalf("standby status: %+v", st)
	}
	if code, _, e := runUI(t, "node", "standby", "-address", addr, "nosuch"); code != 1 || !strings.Contains(e, `no node named "nosuch"`) {
		t.Fatalf("unknown node: %d %s", code, e)
	}
	// A pin to a node in standby would do nothing: refused, with the reason.
	if code, _, e := runUI(t, "resource", "move", "-address", addr, "demo", "dev"); code != 1 || !strings.Contains(e, "dev is in standby") {
		t.Fatalf("move to a standby node: %d %s", code, e)
	}
	if code, _, e := runUI(t, "node", "online", "-address", addr, "dev"); code != 0 {
		t.Fatal(e)
	}
	waitGroup("started")
	// A pin is visible (it overrides failback until cleared), and clear removes it.
	if code, _, e := runUI(t, "resource", "move", "-address", addr, "demo", "dev"); code != 0 {
		t.Fatal(e)
	}
	if st := status(); st.Groups[0].PinnedTo != "dev" || !strings.Contains(st.Groups[0].Pin, "`vigil resource clear demo` removes it") {
		t.Fatalf("pin not in status -json: %+v", st.Groups[0])
	}
	if code, out, _ := runUI(t, "status", "-address", addr); code != 0 || !strings.Contains(out, "pinned to dev by operator") {
		t.Fatalf("status text lacks the pin:\n%s", out)
	}
	if code, _, e := runUI(t, "resource", "clear", "-address", addr, "demo"); code != 0 {
		t.Fatal(e)
	}
	if st := status(); st.Groups[0].PinnedTo != "" || st.Groups[0].Pin != "" {
		t.Fatalf("pin still shown after clear: %+v", st.Groups[0])
	}
	if code, _, e := runUI(t, "maintenance", "-address", addr, "on"); code != 0 {
		t.Fatal(e)
	}
	// In maintenance a stopped resource is left alone.
	os.Remove(dir + "/demo-hello.started")
	time.Sleep(2500 * time.Millisecond) // longer than the demo's monitor interval
	if _, err := os.Stat(dir + "/demo-hello.started"); err == nil {
		t.Fatal("maintenance mode restarted the resource")
	}
	if code, out, _ := runUI(t, "status", "-address", addr); code != 0 || !strings.Contains(out, "MAINTENANCE") {
		t.Fatalf("status text lacks maintenance: %s", out)
	}
	if code, _, e := runUI(t, "maintenance", "-address", addr, "off"); code != 0 {
		t.Fatal(e)
	}
	// Out of maintenance vigil looks again (a probe, as after a restart)
	// and starts it in place: stopped by hand in maintenance is no failure.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(dir + "/demo-hello.started"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("resource not restarted after maintenance off")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out, _ := runUI(t, "history", "-address", addr)
	for _, want := range []string{"became leader", "set to standby", "maintenance on"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "failed on dev") {
		t.Errorf("a resource stopped by hand in maintenance was counted as a failure:\n%s", out)
	}
}
