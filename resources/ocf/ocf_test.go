package ocf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/resources"
)

const heartbeat = DefaultRoot + "/resource.d/heartbeat"

func requireAgent(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(heartbeat, name)); err != nil {
		t.Skipf("resource-agents not installed (%v): apt-get install resource-agents", err)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustNew(t *testing.T, s resources.Spec) *Agent {
	t.Helper()
	ag, err := New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ag.(*Agent)
}

func TestDummyLifecycle(t *testing.T) {
	requireAgent(t, "Dummy")
	dir := t.TempDir()
	state := filepath.Join(dir, "dummy.state")
	ag := mustNew(t, resources.Spec{Group: "web", Name: "d", RunDir: dir, Params: map[string]string{
		"agent": "heartbeat:Dummy", "params.state": state,
	}})
	ctx := ctxT(t, 20*time.Second)
	if st, err := ag.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor before start = %v, %v", st, err)
	}
	if err := ag.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("Dummy did not create its state file: %v", err)
	}
	if st, err := ag.Monitor(ctx); st != resources.Running || err != nil {
		t.Fatalf("monitor after start = %v, %v", st, err)
	}
	if err := ag.Start(ctx); err != nil {
		t.Fatalf("second start: %v", err)
	}
	for i := range 2 {
		if err := ag.Stop(ctx); err != nil {
			t.Fatalf("stop #%d: %v", i+1, err)
		}
	}
	if st, err := ag.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor after stop = %v, %v", st, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "rsctmp")); err != nil || !fi.IsDir() {
		t.Fatalf("HA_RSCTMP directory not created: %v", err)
	}
}

// fakeRoot makes an OCF root with one agent script, provider "test".
func fakeRoot(t *testing.T, name, script string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "resource.d", "test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	root := fakeRoot(t, "envdump", `env | sort > "$OCF_RESKEY_out"; exit 0`)
	run := t.TempDir()
	ag := mustNew(t, resources.Spec{Group: "web", Name: "vip", RunDir: run, Params: map[string]string{
		"agent": "test:envdump", "ocf_root": root, "params.out": out, "params.nic": "eth0",
	}})
	if err := ag.Start(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	for k, want := range map[string]string{
		"OCF_ROOT":              root,
		"OCF_RESOURCE_INSTANCE": "web-vip",
		"OCF_RESOURCE_TYPE":     "envdump",
		"OCF_RESOURCE_PROVIDER": "test",
		"OCF_RESKEY_nic":        "eth0",
		"HA_RSCTMP":             filepath.Join(run, "rsctmp"),
		"PATH":                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	ms, err := strconv.Atoi(env["OCF_RESKEY_CRM_meta_timeout"])
	if err != nil || ms < 4000 || ms > 5000 {
		t.Errorf("OCF_RESKEY_CRM_meta_timeout = %q, want about 5000 (ms)", env["OCF_RESKEY_CRM_meta_timeout"])
	}
	if _, ok := env["HOME"]; ok {
		t.Error("the agent inherited HOME: environment is not clean")
	}
}

func TestMonitorCodes(t *testing.T) {
	root := fakeRoot(t, "coded", `echo "agent says $OCF_RESKEY_code" >&2; exit $OCF_RESKEY_code`)
	for code, want := range map[int]resources.State{0: resources.Running, 7: resources.Stopped, 1: resources.Failed, 6: resources.Failed, 8: resources.Failed} {
		ag := mustNew(t, resources.Spec{Name: "c", Params: map[string]string{
			"agent": "test:coded", "ocf_root": root, "params.code": strconv.Itoa(code),
		}})
		st, err := ag.Monitor(ctxT(t, 5*time.Second))
		if st != want {
			t.Errorf("exit %d: state %v, want %v", code, st, want)
		}
		if want == resources.Failed {
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != code || !strings.Contains(err.Error(), ExitName(code)) ||
				!strings.Contains(err.Error(), "agent says") {
				t.Errorf("exit %d: err %v", code, err)
			}
		} else if err != nil {
			t.Errorf("exit %d: err %v", code, err)
		}
	}
}

func TestTimeoutKillsAgentTree(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	root := fakeRoot(t, "hang", `sleep 300 & echo $! > "$OCF_RESKEY_pidfile"; wait`)
	ag := mustNew(t, resources.Spec{Name: "h", Params: map[string]string{
		"agent": "test:hang", "ocf_root": root, "params.pidfile": pidFile,
	}})
	st, err := ag.Monitor(ctxT(t, 300*time.Millisecond))
	if st != resources.Failed || err == nil || !strings.Contains(err.Error(), "timed out after") {
		t.Fatalf("monitor = %v, %v; want failed, timed out", st, err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("agent's child %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

func TestNotInstalled(t *testing.T) {
	ag := mustNew(t, resources.Spec{Name: "x", Params: map[string]string{"agent": "heartbeat:NoSuchAgent"}})
	err := ag.Start(ctxT(t, 5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestParams(t *testing.T) {
	for _, p := range []map[string]string{
		{},
		{"agent": "IPaddr2"},
		{"agent": "heartbeat:"},
		{"agent": "../..:sh"},
		{"agent": "heartbeat:IPaddr2:x"},
		{"agent": "heartbeat:IPaddr2", "ocf_root": "lib/ocf"},
		{"agent": "heartbeat:IPaddr2", "params.bad-name": "x"},
		{"agent": "heartbeat:IPaddr2", "params.a b": "x"},
	} {
		if _, err := New(resources.Spec{Name: "r", Params: p}); err == nil {
			t.Errorf("New accepted %v", p)
		}
	}
	ag := mustNew(t, resources.Spec{Name: "r", Params: map[string]string{"agent": "ocf:heartbeat:IPaddr2"}})
	if ag.path != "/usr/lib/ocf/resource.d/heartbeat/IPaddr2" || ag.instance != "r" {
		t.Fatalf("path %q instance %q", ag.path, ag.instance)
	}
}
