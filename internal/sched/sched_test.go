package sched

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Raise reaches every thread, including threads started afterwards, and
// Normal gives a child the default priority back. Lowering the priority
// (a positive nice) needs no privilege, so the test runs anywhere; it runs
// in a child process so that the test binary keeps its own priority.
func TestRaiseEveryThreadAndNormalChild(t *testing.T) {
	if os.Getenv("SCHED_TEST_CHILD") == "1" {
		if err := Raise(5); err != nil {
			t.Fatal(err)
		}
		done := make(chan int)
		go func() {
			runtime.LockOSThread() // a thread of its own, possibly new
			n, err := Current()
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
		if n := <-done; n != 5 {
			t.Fatalf("a goroutine's thread has nice %d, want 5", n)
		}
		cmd := exec.Command("sleep", "1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		Normal(cmd.Process.Pid)
		p, err := unix.Getpriority(unix.PRIO_PROCESS, cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && 20-p != 0 {
			t.Fatalf("child nice %d after Normal, want 0", 20-p)
		}
		// The child leads its own session: its autogroup is raised too.
		if b, err := os.ReadFile("/proc/self/autogroup"); err == nil && !strings.HasSuffix(strings.TrimSpace(string(b)), " nice 5") {
			t.Fatalf("autogroup after Raise(5): %q, want nice 5", b)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRaiseEveryThreadAndNormalChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SCHED_TEST_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
