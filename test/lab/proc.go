package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Proc is a process started in a host namespace.
type Proc struct {
	Name string // label given to Start; also the log file's base name
	Pid  int    // the real pid of the program (`ip netns exec` execs it)
	Log  string // stdout and stderr

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// Start runs argv inside the host's namespace in the background, with stdout
// and stderr appended to <lab dir>/logs/<host>-<name>.log. The lab kills it at
// cleanup and dumps its log when the test fails.
func (h *Host) Start(name string, argv ...string) *Proc {
	l := h.lab
	l.tb.Helper()
	logDir := filepath.Join(l.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		l.tb.Fatalf("lab: %v", err)
	}
	path := filepath.Join(logDir, h.name+"-"+name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.tb.Fatalf("lab: %v", err)
	}
	defer f.Close()
	fmt.Fprintf(f, "==== %s start %v\n", time.Now().Format(time.RFC3339Nano), argv)

	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own session, hence own process group (a ^C of `go test` does not hit
	// it before cleanup) and, with the kernel's autogroup scheduling, own
	// CPU group: as each service under systemd, so that a busy loop here
	// competes with an agent as another service would, not inside the
	// agent's group where the agent's nice value would decide alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		l.tb.Fatalf("lab: start %s on %s: %v", name, h.name, err)
	}
	p := &Proc{Name: h.name + "/" + name, Pid: cmd.Process.Pid, Log: path, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p
}

// Done is closed when the process has exited (and been reaped).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait blocks until the process exits and returns its exit status.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// WaitTimeout waits up to d; it returns an error if the process still runs.
func (p *Proc) WaitTimeout(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s (pid %d) still running after %v", p.Name, p.Pid, d)
	}
}

// Signal sends sig to the process; signalling an exited process is a no-op.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	err := syscall.Kill(p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Kill sends SIGKILL and waits for the process to be reaped; the exit status
// (killed) is not an error.
func (p *Proc) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL for 5s", p.Name, p.Pid)
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL. It returns the exit
// status (a signal exit after SIGKILL is reported as an error).
func (p *Proc) Stop(grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	// A frozen process cannot act on SIGTERM.
	_ = p.Signal(syscall.SIGCONT)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
	}
	if err := p.Kill(); err != nil {
		return fmt.Errorf("%s ignored SIGTERM for %v: %w", p.Name, grace, err)
	}
	return fmt.Errorf("%s ignored SIGTERM for %v, killed", p.Name, grace)
}
