package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/sdnotify"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/internal/syncbuf"
)

// runArgs runs the real dispatcher as main does.
func runArgs(args ...string) (int, string, string) {
	ui := cli.NewMockUi()
	var out, errOut bytes.Buffer
	code := dispatch(ui, &out, &errOut, args)
	return code, out.String() + ui.OutputWriter.String(), errOut.String() + ui.ErrorWriter.String()
}

func TestHelpAndUnknownCommands(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		code, out, _ := runArgs(args...)
		if code != 0 || !strings.Contains(out, "Usage: vigil") || !strings.Contains(out, "status") || !strings.Contains(out, "leader") {
			t.Errorf("vigil %v: exit %d\n%s", args, code, out)
		}
	}
	code, out, _ := runArgs("help", "status")
	if code != 0 || !strings.Contains(out, "-check") || !strings.Contains(out, "Connection options") {
		t.Errorf("vigil help status: exit %d\n%s", code, out)
	}
	code, out, _ = runArgs("help", "node")
	if code != 0 || !strings.Contains(out, "standby") || !strings.Contains(out, "online") {
		t.Errorf("vigil help node: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `unknown command "stauts". Did you mean "status"?`},
		{[]string{"node", "stanby", "lb1"}, `unknown command "node stanby". Did you mean "node standby"?`},
		{[]string{"help", "histroy"}, `Did you mean "history"?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate".`},
	} {
		code, _, errOut := runArgs(c.args...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("vigil %v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut, c.want)
		}
	}
	// Every command that talks to the agent documents how it connects.
	for name, f := range commands(cli.NewMockUi()) {
		c, _ := f()
		if _, ok := c.(connCmd); !ok {
			continue
		}
		h := c.Help()
		for _, want := range []string{"-address", "VIGIL_ADDR", "-config", "VIGIL_CONFIG", "-ca-file", "-cert-file", "-key-file", "/run/vigil/vigil.sock"} {
			if !strings.Contains(h, want) {
				t.Errorf("help of %q lacks %s", name, want)
			}
		}
	}
	for _, name := range []string{"status", "members", "history", "node standby", "resource move", "maintenance", "fence", "leader transfer"} {
		c, _ := commands(cli.NewMockUi())[name]()
		if _, ok := c.(connCmd); !ok {
			t.Errorf("%s is not marked as talking to the agent", name)
		}
	}
}

func TestFindAgent(t *testing.T) {
	dir := t.TempDir()
	sock := func(name string) string {
		p := filepath.Join(dir, name)
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return p
	}
	run, data, dev := filepath.Join(dir, "run.sock"), sock("data.sock"), sock("dev.sock")
	got, err := findAgent("", "", []string{run, data, dev})
	if err != nil || got != "unix://"+data {
		t.Errorf("first existing socket: %q %v", got, err)
	}
	if got, _ := findAgent("https://10.0.0.1:7400", "", []string{data}); got != "https://10.0.0.1:7400" {
		t.Errorf("-address wins: %q", got)
	}
	_, err = findAgent("", "", []string{run})
	if err == nil || !strings.Contains(err.Error(), run) || !strings.Contains(err.Error(), "VIGIL_ADDR") {
		t.Errorf("no agent: %v", err)
	}
	// -config names the socket of that agent.
	cfgDir := t.TempDir()
	cfg := writeDevLikeConfig(t, cfgDir)
	got, err = findAgent("", cfg, []string{data})
	if err != nil || got != "unix://"+filepath.Join(cfgDir, "api.sock") {
		t.Errorf("-config: %q %v", got, err)
	}
	if _, err := findAgent("", filepath.Join(cfgDir, "missing.hcl"), nil); err == nil || !strings.Contains(err.Error(), "missing.hcl") {
		t.Errorf("bad -config: %v", err)
	}
}

// writeDevLikeConfig writes a minimal valid single-node config whose api
// socket is <dir>/api.sock.
func writeDevLikeConfig(t *testing.T, dir string) string {
	t.Helper()
	key := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(key, []byte("MTIzNDU2Nzg5MDEyMzQ1Ng==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, e := runUI(t, "tls", "ca", "create", "-dir", dir)
	if code != 0 {
		t.Fatal(e)
	}
	if code, _, e := runUI(t, "tls", "cert", "create", "-dir", dir, "-node", "solo", "-ip", "127.0.0.1"); code != 0 {
		t.Fatal(e)
	}
	hcl := `node_name = "solo"
data_dir  = "` + dir + `/data"
cluster {
  name            = "one"
  gossip_key_file = "gossip.key"
  tls {
    ca_file   = "ca.pem"
    cert_file = "solo.pem"
    key_file  = "solo-key.pem"
  }
  api { socket = "` + dir + `/api.sock" }
}
node "solo" {
  address   = "127.0.0.1:17300"
  heartbeat = "127.0.0.1:17301"
}
node "b" {
  address   = "127.0.0.2:17300"
  heartbeat = "127.0.0.2:17301"
}
node "c" {
  address   = "127.0.0.3:17300"
  heartbeat = "127.0.0.3:17301"
  witness   = true
}
`
	p := filepath.Join(dir, "vigil.hcl")
	if err := os.WriteFile(p, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := configs.Load(p, builtin.Schemas()); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return p
}

func TestStatusCheckVerdicts(t *testing.T) {
	healthy := func() api.Status {
		return api.Status{Leader: "lb1", Quorum: true,
			Nodes: []api.NodeStatus{
				{Name: "lb1", State: "online", Heartbeat: "ok", ClusterLink: "ok"},
				{Name: "lb2", State: "online", Heartbeat: "ok", ClusterLink: "ok"},
				{Name: "w", State: "online", Heartbeat: "ok", ClusterLink: "ok"}},
			Groups: []api.GroupStatus{{Name: "web", State: "started", Node: "lb1"}}}
	}
	cases := []struct {
		name string
		edit func(*api.Status)
		code int
		want string
	}{
		{"ok", func(*api.Status) {}, 0, "VIGIL OK - leader lb1, 3/3 nodes online, 1/1 groups started |"},
		{"group nowhere", func(s *api.Status) { s.Groups[0].State, s.Groups[0].Node = "stopped", "" }, 2, "VIGIL CRITICAL - group web runs nowhere (stopped)"},
		{"no quorum", func(s *api.Status) { s.Quorum, s.Leader = false, "" }, 2, "VIGIL CRITICAL - no leader; no quorum"},
		{"lost unfenced", func(s *api.Status) {
			s.Nodes[1].State, s.Nodes[1].Heartbeat, s.Nodes[1].ClusterLink = "offline", "lost", "lost"
		}, 1,
			"VIGIL WARNING - node lb2 lost unfenced (offline)"},
		{"link down", func(s *api.Status) { s.Nodes[1].Heartbeat = "lost" }, 1, "VIGIL WARNING - heartbeat link to lb2 down"},
		{"fence device failing", func(s *api.Status) {
			s.Fencing = []api.FenceRecord{{Device: "bmc1", Result: "ok"}, {Device: "bmc2", Result: "ok"}, {Device: "bmc1", Result: "failed"}}
		}, 1, "VIGIL WARNING - fence device bmc1 failing"},
		{"maintenance", func(s *api.Status) { s.Maintenance = true; s.Groups[0].State, s.Groups[0].Node = "stopped", "" }, 1,
			"VIGIL WARNING - group web stopped (maintenance); cluster in maintenance mode"},
	}
	for _, c := range cases {
		st := healthy()
		c.edit(&st)
		code, line := checkStatus(st)
		if code != c.code || !strings.HasPrefix(line, c.want) || strings.Contains(line, "\n") {
			t.Errorf("%s: %d %q; want %d %q...", c.name, code, line, c.code, c.want)
		}
	}
}

// TestDevAgentObservability runs the dev agent in-process under a fake
// systemd and checks the notifications, /metrics on the API socket and on
// the telemetry listener, the status page files, `status -check` and a
// clean stop without warnings.
func TestDevAgentObservability(t *testing.T) {
	dir, err := os.MkdirTemp("", "vo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	notify := filepath.Join(dir, "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	var mu sync.Mutex
	var got []string
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := nl.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:n]))
			mu.Unlock()
		}
	}()
	saw := func(prefix string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range got {
			if strings.HasPrefix(s, prefix) {
				return true
			}
		}
		return false
	}
	cfg := configs.DevAt(dir, freePort(t), freePort(t))
	cfg.Telemetry.Listen = freePort(t)
	if err := configs.Validate(cfg, builtin.Schemas()); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	a, err := agent.New(agent.Deps{Config: cfg, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &logs}),
		Resources: resourceRegistry(), Fencers: fenceRegistry(), Checks: checkRegistry(), Version: "test",
		Notify: sdnotify.Notifier{Socket: notify, Watchdog: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	addr := "unix://" + cfg.Cluster.API.Socket
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("READY=1", func() bool { return saw("READY=1") })
	waitFor("watchdog pings", func() bool { return saw("WATCHDOG=1") })
	waitFor("STATUS=", func() bool { return saw("STATUS=leader dev") })
	waitFor("status -check OK", func() bool {
		code, out, _ := runUI(t, "status", "-check", "-address", addr)
		return code == 0 && strings.HasPrefix(out, "VIGIL OK - leader dev, 1/1 nodes online, 1/1 groups started")
	})

	// /metrics on the API socket and on the telemetry listener.
	cl, err := api.NewClient(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Get(context.Background(), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, resp, "vigil_group_location", "vigil_is_leader", "vigil_resource_operation_duration_seconds", "vigil_raft_commit_duration_seconds")
	base := "http://" + cfg.Telemetry.Listen
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, resp, "vigil_quorum")
	for path, want := range map[string]string{"/ui/": "<title>vigil</title>", "/ui/app.js": "failovers.json",
		"/ui/failovers.json": `"phases":["detect","decide","fence","stop","start"]`, "/v1/status": `"leader":"dev"`} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s, lacks %q", path, resp.Status, want)
		}
	}
	// The plain-HTTP listener takes no writes.
	resp, err = http.Post(base+"/v1/node/standby", "application/json", strings.NewReader(`{"node":"dev","standby":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("POST on the telemetry listener: %s", resp.Status)
	}

	// A single voter has nobody to hand leadership to.
	if code, _, e := runUI(t, "leader", "transfer", "-address", addr); code != 1 || !strings.Contains(e, "Error:") {
		t.Errorf("leader transfer on one node: %d %s", code, e)
	}
	if code, _, e := runUI(t, "leader", "transfer", "-address", addr, "dev"); code != 1 || !strings.Contains(e, "already the leader") {
		t.Errorf("leader transfer to itself: %d %s", code, e)
	}

	if code, _, e := runUI(t, "node", "standby", "-address", addr, "dev"); code != 0 {
		t.Fatal(e)
	}
	waitFor("status -check CRITICAL", func() bool {
		code, out, _ := runUI(t, "status", "-check", "-address", addr)
		return code == 2 && strings.HasPrefix(out, "VIGIL CRITICAL - group demo runs nowhere") && !strings.Contains(out, "; group demo")
	})
	// Plain status says it too.
	waitFor("status warns of a group running nowhere", func() bool {
		_, out, _ := runUI(t, "status", "-address", addr)
		return strings.Contains(out, "Warnings:\n  - group demo runs nowhere (stopped)")
	})
	if code, _, e := runUI(t, "node", "online", "-address", addr, "dev"); code != 0 {
		t.Fatal(e)
	}
	waitFor("group back", func() bool {
		code, _, _ := runUI(t, "status", "-check", "-address", addr)
		return code == 0
	})
	mark := logs.Len()
	stop()
	if !saw("STOPPING=1") {
		t.Error("no STOPPING=1 on shutdown")
	}
	for _, line := range strings.Split(logs.String()[mark:], "\n") {
		if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
			t.Errorf("clean stop logged: %s", line)
		}
	}
	// Unreachable agent: critical, one line.
	code, out, _ := runUI(t, "status", "-check", "-address", addr)
	if code != 2 || !strings.HasPrefix(out, "VIGIL CRITICAL - cannot reach the vigil agent") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("agent down: %d %q", code, out)
	}
}

func checkMetrics(t *testing.T, resp *http.Response, names ...string) {
	t.Helper()
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	for _, n := range names {
		if fams[n] == nil {
			t.Errorf("no %s", n)
		}
	}
}

// `vigil agent -dev` listens on the fixed per-user socket the CLI tries.
func TestDevAgentUsesTheFixedSocket(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cfg, err := loadAgentConfig("", true, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(tmp, "vigil-dev-"+strconv.Itoa(os.Getuid()), "vigil.sock")
	if cfg.Cluster.API.Socket != want || !slices.Contains(defaultSockets(os.Getuid()), want) {
		t.Errorf("dev socket %q, want %q among %v", cfg.Cluster.API.Socket, want, defaultSockets(os.Getuid()))
	}
	if fi, err := os.Stat(filepath.Dir(want)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir: %v %v", fi, err)
	}
	// A directory someone else could write into is refused.
	if err := os.Chmod(filepath.Dir(want), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := loadAgentConfig("", true, t.TempDir()); err == nil || !strings.Contains(err.Error(), "mode 0700") {
		t.Errorf("open socket dir accepted: %v", err)
	}
}

// An explicit -config beats VIGIL_ADDR; VIGIL_ADDR beats VIGIL_CONFIG.
func TestConnectionPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := writeDevLikeConfig(t, dir)
	t.Setenv("VIGIL_ADDR", "unix:///nonexistent/env.sock")
	t.Setenv("VIGIL_CONFIG", cfg)
	_, _, e := runUI(t, "members")
	if !strings.Contains(e, "/nonexistent/env.sock") {
		t.Errorf("VIGIL_ADDR did not win over VIGIL_CONFIG: %s", e)
	}
	_, _, e = runUI(t, "members", "-config", cfg)
	if !strings.Contains(e, filepath.Join(dir, "api.sock")) {
		t.Errorf("-config did not win over VIGIL_ADDR: %s", e)
	}
}
