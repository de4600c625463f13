package subproc

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func run(t *testing.T, ctx context.Context, c Cmd) (Result, error) {
	t.Helper()
	if c.Path == "" {
		c.Path = "/bin/sh"
	}
	return Run(ctx, c)
}

func TestExitCodeAndCombinedOutput(t *testing.T) {
	res, err := run(t, context.Background(), Cmd{Args: []string{"-c", "echo out; echo err >&2; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Output != "out\nerr" {
		t.Fatalf("got exit %d output %q, want 3 and both streams", res.ExitCode, res.Output)
	}
}

// A timeout kills the whole group: the grandchild the shell started must be
// dead when Run returns, not only the shell.
func TestTimeoutKillsWholeGroup(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := run(t, ctx, Cmd{Args: []string{"-c", "sleep 60 & echo $! > " + pidFile + "; wait"}})
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a TimeoutError wrapping DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second || res.ExitCode != -1 {
		t.Fatalf("returned after %v with exit %d", time.Since(start), res.ExitCode)
	}
	assertDead(t, pidFile)
}

// A daemon started in the background (a resource's start action) keeps the
// output pipe open; Run must return when the script exits, not when the
// daemon does, and must leave the daemon alone unless asked to kill it.
func TestBackgroundChildDoesNotHoldRun(t *testing.T) {
	for _, kill := range []bool{false, true} {
		pidFile := t.TempDir() + "/pid"
		start := time.Now()
		res, err := run(t, context.Background(), Cmd{KillLeftovers: kill,
			Args: []string{"-c", "sleep 60 & echo $! > " + pidFile + "; echo started"}})
		if err != nil || res.ExitCode != 0 || res.Output != "started" {
			t.Fatalf("kill=%v: %v exit %d output %q", kill, err, res.ExitCode, res.Output)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("kill=%v: Run waited %v for the background child", kill, d)
		}
		pid := readPid(t, pidFile)
		if kill {
			assertDead(t, pidFile)
		} else {
			if err := syscall.Kill(pid, 0); err != nil {
				t.Fatalf("the daemon was killed without KillLeftovers: %v", err)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestOutputCapKeepsTail(t *testing.T) {
	res, err := run(t, context.Background(), Cmd{MaxOutput: 100,
		Args: []string{"-c", "i=0; while [ $i -lt 1000 ]; do echo line$i; i=$((i+1)); done; echo LAST"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) > 100 || !strings.HasSuffix(res.Output, "LAST") || !res.Truncated {
		t.Fatalf("output %d bytes, truncated=%v, ends %q", len(res.Output), res.Truncated, res.Output[max(0, len(res.Output)-10):])
	}
}

func TestSeparateStdoutKeepsDocumentHead(t *testing.T) {
	res, err := run(t, context.Background(), Cmd{SeparateStdout: true, MaxOutput: 8,
		Args: []string{"-c", "printf '<doc>0123456789'; echo oops >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "<doc>012" || res.Output != "oops" || !res.Truncated {
		t.Fatalf("stdout %q stderr %q truncated %v", res.Stdout, res.Output, res.Truncated)
	}
}

func TestEnvironmentIsExactlyEnv(t *testing.T) {
	t.Setenv("VIGIL_SUBPROC_LEAK", "leaked")
	res, err := run(t, context.Background(), Cmd{Env: []string{"A=1"},
		Args: []string{"-c", "echo A=$A LEAK=$VIGIL_SUBPROC_LEAK PATH=$PATH"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "A=1 LEAK= PATH=" + DefaultPath; res.Output != want {
		t.Fatalf("got %q, want %q", res.Output, want)
	}
	res, err = run(t, context.Background(), Cmd{Env: Inherit("B=2"), Args: []string{"-c", "echo $VIGIL_SUBPROC_LEAK $B"}})
	if err != nil || res.Output != "leaked 2" {
		t.Fatalf("Inherit: %v %q", err, res.Output)
	}
}

func TestStdin(t *testing.T) {
	res, err := run(t, context.Background(), Cmd{Stdin: []byte("action=off\nport=1\n"), Args: []string{"-c", "grep -c ="}})
	if err != nil || res.Output != "2" {
		t.Fatalf("%v %q", err, res.Output)
	}
	if _, err := run(t, context.Background(), Cmd{Stdin: make([]byte, maxStdin+1), Args: []string{"-c", "true"}}); err == nil {
		t.Fatal("oversized stdin accepted")
	}
}

func TestStartFailure(t *testing.T) {
	_, err := Run(context.Background(), Cmd{Path: "/nonexistent/agent"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/agent") {
		t.Fatalf("err = %v", err)
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// assertDead waits for the process to disappear (SIGKILL delivery is
// asynchronous; the zombie is reaped by init) and fails if it does not.
func assertDead(t *testing.T, pidFile string) {
	t.Helper()
	pid := readPid(t, pidFile)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d survived", pid)
}
