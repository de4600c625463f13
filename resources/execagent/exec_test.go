package execagent

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

	"github.com/vigil-ha/vigil/internal/subproc"
	"github.com/vigil-ha/vigil/resources"
)

// newAgent builds an agent whose commands manage a pid-file "daemon"
// (a background sleep) in a temp dir, like a real init script.
func newAgent(t *testing.T, extra map[string]string) (resources.Agent, string) {
	t.Helper()
	dir := t.TempDir()
	params := map[string]string{
		"start":  `sleep 300 >/dev/null 2>&1 & echo $! > pid`,
		"stop":   `kill $(cat pid) && rm -f pid`,
		"status": `[ -f pid ] || exit 3; kill -0 $(cat pid) 2>/dev/null || exit 1`,
		"dir":    dir,
	}
	for k, v := range extra {
		params[k] = v
	}
	a, err := New(resources.Spec{Group: "g", Name: "svc", Node: "n1", Params: params})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a, dir
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLifecycle(t *testing.T) {
	a, _ := newAgent(t, nil)
	ctx := ctxT(t, 10*time.Second)

	if st, err := a.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor before start = %v, %v; want stopped", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop of a stopped resource: %v", err)
	}
	begin := time.Now()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	// The background sleep holds nothing of ours: start must not wait for it.
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("start took %v: it waited for the daemon it launched", d)
	}
	if st, err := a.Monitor(ctx); st != resources.Running || err != nil {
		t.Fatalf("monitor after start = %v, %v; want running", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if st, err := a.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor after stop = %v, %v; want stopped", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestDaemonKeepingPipeOpenDoesNotBlock(t *testing.T) {
	// A careless start script leaves a child holding stdout.
	a, _ := newAgent(t, map[string]string{"start": `echo starting; sleep 300 & echo $! > pid`})
	begin := time.Now()
	if err := a.Start(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("start: %v", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("start took %v", d)
	}
}

func TestStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   resources.State
		errHas string
	}{
		{"exit 0", resources.Running, ""},
		{"exit 3", resources.Stopped, ""},
		{"echo broken >&2; exit 1", resources.Failed, "status 1: broken"},
		{"exit 4", resources.Failed, "status 4"},
		{"kill -9 $$", resources.Failed, "signal"},
	} {
		a, err := New(resources.Spec{Name: "x", Params: map[string]string{"start": "true", "stop": "true", "status": tc.script}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := a.Monitor(ctxT(t, 5*time.Second))
		if st != tc.want {
			t.Errorf("%q: state %v, want %v", tc.script, st, tc.want)
		}
		if (tc.errHas == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errHas)) {
			t.Errorf("%q: err %v, want containing %q", tc.script, err, tc.errHas)
		}
	}
}

func TestStartFailureCarriesOutputTail(t *testing.T) {
	a, _ := newAgent(t, map[string]string{"start": `head -c 10000 /dev/zero | tr '\0' x; echo; echo "port 80 in use" >&2; exit 1`})
	err := a.Start(ctxT(t, 5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "start exited with status 1") || !strings.HasSuffix(err.Error(), "port 80 in use") {
		t.Fatalf("err = %v", err)
	}
	if len(err.Error()) > subproc.DefaultMaxOutput+100 {
		t.Fatalf("error is %d bytes, want the output tail only", len(err.Error()))
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	a, err := New(resources.Spec{Name: "slow", Params: map[string]string{
		// The child sleep is what must die: the shell alone would be easy.
		"start": `sleep 300 & echo $! > child; wait`, "stop": "true", "status": "exit 3", "dir": dir,
	}})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	err = a.Start(ctxT(t, 300*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "timed out after") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("start returned after %v", d)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The killed child may linger as a zombie of the reaped shell for a moment.
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child sleep %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3 is the state; Z is a zombie (dead, not yet reaped).
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func TestEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	a, err := New(resources.Spec{Group: "web", Name: "app", Node: "lb1", Params: map[string]string{
		"start":         `echo "$(pwd) $GREETING $VIGIL_GROUP $VIGIL_RESOURCE $VIGIL_NODE $HOME" > out`,
		"stop":          "true",
		"status":        "exit 3",
		"dir":           dir,
		"env.GREETING":  "hello world",
		"env.unrelated": "x",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	// HOME is not inherited: the environment is clean.
	if got, want := strings.TrimSpace(string(b)), dir+" hello world web app lb1"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParamValidation(t *testing.T) {
	ok := map[string]string{"start": "a", "stop": "b", "status": "c"}
	for name, mut := range map[string]func(map[string]string){
		"missing stop": func(p map[string]string) { delete(p, "stop") },
		"blank status": func(p map[string]string) { p["status"] = "  " },
		"relative dir": func(p map[string]string) { p["dir"] = "var/run" },
		"bad env name": func(p map[string]string) { p["env.1X"] = "v" },
		"bad env char": func(p map[string]string) { p["env.A-B"] = "v" },
	} {
		p := map[string]string{}
		for k, v := range ok {
			p[k] = v
		}
		mut(p)
		if _, err := New(resources.Spec{Name: "r", Params: p}); err == nil {
			t.Errorf("%s: New accepted %v", name, p)
		}
	}
	if _, err := New(resources.Spec{Name: "r", Params: ok}); err != nil {
		t.Fatalf("valid params rejected: %v", err)
	}
}
