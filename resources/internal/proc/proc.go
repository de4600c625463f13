// Package proc runs agent scripts (exec resources, OCF agents) the way a
// cluster manager must: in their own process group, so a timeout kills the
// whole tree, with the tail of their combined output kept for error messages.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TailSize is how much combined output a Result keeps (the end of it).
const TailSize = 4096

// DefaultPath is the PATH given to scripts that get no PATH of their own.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// drainGrace bounds how long Run waits for output after the command exited.
// A background process started by the script may hold the pipe open forever;
// what the script itself wrote is already buffered by then.
const drainGrace = 20 * time.Millisecond

// Cmd is one command to run.
type Cmd struct {
	Path string
	Args []string
	Dir  string
	Env  []string // complete environment; PATH is added when missing
}

// Result is what a finished command left behind.
type Result struct {
	ExitCode int    // -1 when it was killed by a signal or never exited
	Output   string // last TailSize bytes of stdout+stderr, trimmed
	Elapsed  time.Duration
}

// TimeoutError reports a command killed because its context ended.
type TimeoutError struct {
	After time.Duration
	Err   error // ctx.Err()
}

func (e *TimeoutError) Error() string {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %s", e.After)
	}
	return fmt.Sprintf("canceled after %s", e.After)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Run starts c in a new process group and waits for it to exit. When ctx
// ends first, the whole process group gets SIGKILL and Run returns a
// *TimeoutError. A non-zero exit status is not an error: read ExitCode.
func Run(ctx context.Context, c Cmd) (Result, error) {
	res := Result{ExitCode: -1}
	if err := ctx.Err(); err != nil {
		return res, &TimeoutError{Err: err}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("output pipe: %w", err)
	}
	defer r.Close()

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = withPath(c.Env)
	// An *os.File (not a Writer) means exec starts no copying goroutine, so
	// Wait returns when the script exits even if a daemon it launched keeps
	// the pipe open.
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	start := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return res, fmt.Errorf("start %s: %w", c.Path, err)
	}
	pgid := cmd.Process.Pid

	tail := &tailBuffer{max: TailSize}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			tail.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var runErr error
	select {
	case err = <-waitDone:
	case <-ctx.Done():
		// Kill the group first: the leader is not reaped yet, so its pid
		// still names this group and cannot have been reused.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err = <-waitDone
		runErr = &TimeoutError{After: roundDur(time.Since(start)), Err: ctx.Err()}
	}
	res.Elapsed = time.Since(start)
	_ = r.SetReadDeadline(time.Now().Add(drainGrace))
	<-readDone
	res.Output = strings.TrimSpace(tail.String())

	var ee *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode() // -1 when signalled
	default:
		if runErr == nil {
			runErr = fmt.Errorf("wait %s: %w", c.Path, err)
		}
	}
	return res, runErr
}

// Deadline returns how long ctx has left, or 0 when it has no deadline.
func Deadline(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(d), 0)
}

func withPath(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "PATH="+DefaultPath)
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
