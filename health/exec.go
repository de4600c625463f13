package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxExecOutput is how much of the tail of a command's output is kept.
const maxExecOutput = 1024

// ExecCheck runs a shell command; exit status 0 means healthy.
type ExecCheck struct {
	command string
}

// NewExec builds an exec check. Params: command (required), run as /bin/sh -c.
func NewExec(s Spec) (Check, error) {
	if err := checkKeys("exec", s.Params, "command"); err != nil {
		return nil, err
	}
	cmd := strings.TrimSpace(s.Params["command"])
	if cmd == "" {
		return nil, errors.New("exec check: command is required")
	}
	return &ExecCheck{command: cmd}, nil
}

// Run executes the command once. On timeout the whole process group is
// killed, so children the script started (curl, sleep...) die with it.
func (c *ExecCheck) Run(ctx context.Context) Result {
	var out tailBuffer
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.command)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Negative pid: the group the shell leads (Setpgid made pgid == pid).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A grandchild that escaped the group (setsid) may keep the output pipe
	// open; do not wait for it forever.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	res := Result{At: time.Now()}
	switch {
	case err == nil:
		res.OK = true
		res.Output = text
	case ctx.Err() != nil:
		res.Output = joinOutput("timeout: process group killed", text)
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res.Output = joinOutput(ee.String(), text) // "exit status 2" / "signal: killed"
		} else {
			res.Output = joinOutput(fmt.Sprintf("exec: %v", err), text)
		}
	}
	return res
}

func joinOutput(head, text string) string {
	if text == "" {
		return head
	}
	return head + ": " + text
}

// tailBuffer keeps the last maxExecOutput bytes written to it. The exec
// package may write stdout and stderr from two goroutines, hence the lock.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - maxExecOutput; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.truncated {
		return "..." + string(t.buf)
	}
	return string(t.buf)
}
