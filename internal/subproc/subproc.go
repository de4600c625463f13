// Package subproc runs the external commands vigil depends on (exec and OCF
// resource agents, exec health checks, fence agents) the way a cluster
// manager must, with one set of rules for all of them:
//
//   - the command runs in its own process group, so a timeout kills the whole
//     tree it started (curl, ipmitool, sleep...), not just the shell;
//   - when ctx ends the group gets SIGKILL and Run returns a *TimeoutError;
//   - the environment is exactly Cmd.Env (plus a default PATH), never vigil's
//     own by accident;
//   - output is captured up to a cap, so a chatty command cannot grow memory;
//   - Run returns when the command itself exits, even if a background process
//     it started keeps the output pipe open: after the exit Run drains the
//     pipe for DrainGrace at most.
package subproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/sched"
)

// DefaultPath is the PATH given to commands whose environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultMaxOutput is the output cap when Cmd.MaxOutput is 0.
const DefaultMaxOutput = 4096

// DrainGrace bounds how long Run reads output after the command exited. A
// background process started by the command may hold the pipe open forever;
// what the command itself wrote is already in the pipe by then.
const DrainGrace = 50 * time.Millisecond

// maxStdin keeps Stdin well below the pipe buffer (64 KiB on Linux), so it is
// written before the command starts and no goroutine can block on it.
const maxStdin = 32 << 10

// Cmd is one command to run.
type Cmd struct {
	Path string
	Args []string
	Dir  string
	// Env is the complete environment; PATH=DefaultPath is added when it
	// has no PATH. Use Inherit to start from vigil's own environment.
	Env   []string
	Stdin []byte // at most 32 KiB; nil means /dev/null
	// MaxOutput caps captured output (DefaultMaxOutput when 0). Combined
	// output keeps the tail (where errors are); SeparateStdout keeps the
	// head of stdout (a document) and the tail of stderr.
	MaxOutput      int
	SeparateStdout bool
	// KillLeftovers kills the process group after the command exited, for
	// commands that must not leave children behind (checks, fence agents).
	// Resource agents' start actions legitimately leave daemons running.
	KillLeftovers bool
}

// Result is what a finished command left behind.
type Result struct {
	ExitCode  int    // -1 when killed by a signal or never exited
	Output    string // combined stdout+stderr tail, or stderr's tail with SeparateStdout; trimmed
	Stdout    []byte // with SeparateStdout only
	Truncated bool   // output went over the cap
	Elapsed   time.Duration
}

// TimeoutError reports a command killed because its context ended.
type TimeoutError struct {
	After time.Duration
	Err   error // ctx.Err()
}

func (e *TimeoutError) Error() string {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %s (process group killed)", e.After)
	}
	return fmt.Sprintf("canceled after %s (process group killed)", e.After)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Inherit returns vigil's environment followed by extra (later entries win
// in the exec'd program's getenv).
func Inherit(extra ...string) []string {
	return append(os.Environ(), extra...)
}

// Deadline returns how long ctx has left, or 0 when it has no deadline.
func Deadline(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(d), 0)
}

// Run starts c in a new process group and waits for it to exit. A non-zero
// exit status is not an error: read ExitCode. Errors are a failure to start,
// a *TimeoutError, or a failed wait.
func Run(ctx context.Context, c Cmd) (Result, error) {
	res := Result{ExitCode: -1}
	if err := ctx.Err(); err != nil {
		return res, &TimeoutError{Err: err}
	}
	if len(c.Stdin) > maxStdin {
		return res, fmt.Errorf("%s: stdin of %d bytes is over the %d byte limit", c.Path, len(c.Stdin), maxStdin)
	}
	limit := c.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = withPath(c.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	// Only *os.File ends are handed to the child: exec then starts no copying
	// goroutine and Wait returns when the command exits, whoever else holds
	// the pipes.
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	if c.Stdin != nil {
		r, w, err := pipe()
		if err != nil {
			return res, fmt.Errorf("stdin pipe: %w", err)
		}
		if _, err := w.Write(c.Stdin); err != nil {
			return res, fmt.Errorf("stdin: %w", err)
		}
		w.Close()
		cmd.Stdin = r
	}
	outR, outW, err := pipe()
	if err != nil {
		return res, fmt.Errorf("output pipe: %w", err)
	}
	errR, errW := outR, outW
	if c.SeparateStdout {
		if errR, errW, err = pipe(); err != nil {
			return res, fmt.Errorf("output pipe: %w", err)
		}
	}
	cmd.Stdout, cmd.Stderr = outW, errW

	start := time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return res, fmt.Errorf("start %s: %w", c.Path, err)
	}
	pgid := cmd.Process.Pid
	sched.Normal(pgid) // the agent's raised priority is for the agent only

	tail := &tailBuffer{max: limit}
	var head *headBuffer
	var readers sync.WaitGroup
	readers.Add(1)
	if c.SeparateStdout {
		head = &headBuffer{max: limit}
		readers.Add(1)
		go drain(&readers, outR, head)
		go drain(&readers, errR, tail)
	} else {
		go drain(&readers, outR, tail)
	}
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var runErr error
	select {
	case err = <-waitDone:
	case <-ctx.Done():
		// Kill the group before reaping the leader: its pid still names the
		// group, so it cannot have been reused.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err = <-waitDone
		runErr = &TimeoutError{After: roundDur(time.Since(start)), Err: ctx.Err()}
	}
	res.Elapsed = time.Since(start)
	if c.KillLeftovers {
		// The leader is reaped; a live member keeps the group id from being
		// reused, and an empty group was freed microseconds ago (the same
		// window every pid-based kill has).
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	_ = outR.SetReadDeadline(time.Now().Add(DrainGrace))
	_ = errR.SetReadDeadline(time.Now().Add(DrainGrace))
	readers.Wait()
	res.Output = strings.TrimSpace(tail.String())
	res.Truncated = tail.cut
	if head != nil {
		res.Stdout = head.buf.Bytes()
		res.Truncated = res.Truncated || head.cut
	}

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

func drain(wg *sync.WaitGroup, r *os.File, w interface{ Write([]byte) (int, error) }) {
	defer wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		_, _ = w.Write(buf[:n])
		if err != nil {
			return
		}
	}
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
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// headBuffer keeps the first max bytes written to it. Only one goroutine
// writes, and it is done before anyone reads.
type headBuffer struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	room := h.max - h.buf.Len()
	if room < len(p) {
		h.cut = true
	}
	if room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
