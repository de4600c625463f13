package health_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/health"
)

func mustExec(t *testing.T, command string) health.Check {
	t.Helper()
	c, err := health.NewExec(health.Spec{Name: "t", Params: map[string]string{"command": command}})
	if err != nil {
		t.Fatalf("NewExec(%q): %v", command, err)
	}
	return c
}

func TestExecExitStatus(t *testing.T) {
	res := runWithin(mustExec(t, "echo all good"), 5*time.Second)
	if !res.OK || res.Output != "all good" {
		t.Fatalf("exit 0: %+v", res)
	}
	res = runWithin(mustExec(t, "echo oops >&2; exit 3"), 5*time.Second)
	if res.OK || res.Output != "exit status 3: oops" {
		t.Fatalf("exit 3: %+v", res)
	}
	res = runWithin(mustExec(t, "/nonexistent/check-script"), 5*time.Second)
	if res.OK || !strings.Contains(res.Output, "exit status 127") {
		t.Fatalf("missing script: %+v", res)
	}
}

func TestExecOutputTail(t *testing.T) {
	// 5000 bytes of noise then the line that explains the failure: keep the end.
	res := runWithin(mustExec(t, `head -c 5000 /dev/zero | tr '\0' x; echo; echo "backend down"; exit 1`), 5*time.Second)
	if res.OK || !strings.HasSuffix(res.Output, "backend down") {
		t.Fatalf("tail not kept: %.80q...", res.Output)
	}
	if len(res.Output) > 1100 {
		t.Fatalf("output not capped: %d bytes", len(res.Output))
	}
}

// processGone reports whether pid has exited (absent, or a zombie waiting
// for its new parent to reap it).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The script backgrounds a child and waits: killing only the shell would leave it running.
	c := mustExec(t, "sleep 300 & echo $! > "+pidFile+"; wait")
	start := time.Now()
	res := runWithin(c, 300*time.Millisecond)
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("Run took %v after a 300ms timeout", el)
	}
	if res.OK || !strings.HasPrefix(res.Output, "timeout") {
		t.Fatalf("timed-out script: %+v", res)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child sleep (pid %d) survived the check's timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecParamValidation(t *testing.T) {
	for _, p := range []map[string]string{{}, {"command": "  "}, {"command": "true", "cmd": "x"}} {
		if _, err := health.NewExec(health.Spec{Params: p}); err == nil {
			t.Errorf("NewExec(%v) accepted invalid params", p)
		}
	}
}
