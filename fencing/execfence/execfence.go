// Package execfence runs a ClusterLabs fence agent (fence_ipmilan,
// fence_apc, ... from the fence-agents package) as a fencing device, with the
// agents' stdin protocol: no arguments, "key=value" lines on stdin.
package execfence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/internal/subproc"
)

const (
	paramPrefix  = "params."
	pollInterval = 250 * time.Millisecond
	maxOutput    = 64 << 10
	errOutput    = 600 // bytes of agent output quoted in an error
	// offTimeout bounds an Off whose ctx has no deadline: a fence that never
	// returns would stall the coordinator as surely as one that lies.
	offTimeout = 120 * time.Second
)

// fence-agents exit codes for action=status (fencing/fence.py).
const (
	exitOn  = 0
	exitOff = 2
)

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Fencer runs one fence agent for one target.
type Fencer struct {
	agent    string
	args     []string // "k=v" lines from params.*, sorted
	password []byte   // nil when the device has no password
	log      hclog.Logger
}

var (
	_ fencing.Fencer  = (*Fencer)(nil)
	_ fencing.Checker = (*Fencer)(nil)
)

// New builds a fencer from params agent (path of the agent, or its name on
// PATH) and params.<k> (passed as "k=v"), plus the optional secret
// "password" (passed as "password=..."). Other params are vigil's own.
func New(d fencing.Device) (fencing.Fencer, error) {
	f := &Fencer{log: d.Logger}
	var errs []error
	if err := Schema().Check("exec fence", d.Params); err != nil {
		errs = append(errs, err)
	}
	agent := d.Params["agent"]
	switch {
	case agent == "":
		errs = append(errs, errors.New("agent is required"))
	default:
		p, err := exec.LookPath(agent)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: %w", err))
		} else if f.agent, err = filepath.Abs(p); err != nil {
			errs = append(errs, fmt.Errorf("agent: %w", err))
		}
	}
	if pw, ok := d.Secrets["password"]; ok {
		if bytes.ContainsAny(pw, "\r\n") {
			errs = append(errs, errors.New("password must be a single line"))
		}
		f.password = pw
	}
	for k, v := range d.Params {
		name, ok := strings.CutPrefix(k, paramPrefix)
		if !ok {
			continue
		}
		switch {
		case !keyPattern.MatchString(name):
			errs = append(errs, fmt.Errorf("params key %q: want letters, digits, _ and -", name))
		case name == "action":
			errs = append(errs, errors.New("params must not set action: vigil chooses it"))
		case (name == "password" || name == "passwd") && f.password != nil:
			errs = append(errs, fmt.Errorf("params.%s conflicts with password_file", name))
		case strings.ContainsAny(v, "\r\n"):
			// A newline would let a value inject another key.
			errs = append(errs, fmt.Errorf("params.%s must be a single line", name))
		default:
			f.args = append(f.args, name+"="+v)
		}
	}
	sort.Strings(f.args)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("exec fence device %q: %w", d.Name, err)
	}
	if f.log == nil {
		f.log = hclog.NewNullLogger()
	}
	f.log = f.log.With("device", d.Name, "target", d.Target, "agent", filepath.Base(f.agent))
	return f, nil
}

// Off runs action=off, then action=status until the agent reports off:
// most agents wait for the power state themselves, but success must mean a
// confirmed off whatever the agent does.
func (f *Fencer) Off(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := fencing.WithDefaultTimeout(ctx, offTimeout)
	defer cancel()
	if err := f.runOK(ctx, "off"); err != nil {
		return err
	}
	for {
		p, err := f.Status(ctx)
		if p == fencing.PowerOff {
			f.log.Info("target powered off", "duration", time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			if err != nil {
				return err
			}
			return fmt.Errorf("fence agent %s: status still %s after off: %w", f.agent, p, ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollInterval):
		}
	}
}

// On runs action=on; exit 0 is success (the agent waits for the power
// state itself, as fence agents do).
func (f *Fencer) On(ctx context.Context) error {
	ctx, cancel := fencing.WithDefaultTimeout(ctx, offTimeout)
	defer cancel()
	if err := f.runOK(ctx, "on"); err != nil {
		return err
	}
	f.log.Info("target powered on")
	return nil
}

// Status runs action=status: exit 0 means on, 2 means off (the fence-agents
// convention); anything else is an error. action=monitor is not used: it
// checks the fencing device, not the target's power.
func (f *Fencer) Status(ctx context.Context) (fencing.Power, error) {
	code, out, err := f.run(ctx, "status")
	switch {
	case err != nil:
		return fencing.PowerUnknown, err
	case code == exitOn:
		return fencing.PowerOn, nil
	case code == exitOff:
		return fencing.PowerOff, nil
	}
	return fencing.PowerUnknown, fmt.Errorf("fence agent %s: status exited %d: %s", f.agent, code, out)
}

// Check runs action=monitor: the agent checks that the fencing device
// answers and accepts the credentials, without touching the target's power
// (what Pacemaker's stonith monitor runs). Exit 0 is healthy.
func (f *Fencer) Check(ctx context.Context) error {
	return f.runOK(ctx, "monitor")
}

// runOK runs action and wants exit 0.
func (f *Fencer) runOK(ctx context.Context, action string) error {
	code, out, err := f.run(ctx, action)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("fence agent %s: %s exited %d: %s", f.agent, action, code, out)
	}
	return nil
}

// run executes the agent once with action and returns its exit code and its
// (redacted, shortened) output. err is set only when the agent could not be
// run to completion (start failure, ctx ended: the whole process group is
// killed then, since agents fork ipmitool, ssh, snmp...).
func (f *Fencer) run(ctx context.Context, action string) (int, string, error) {
	res, err := subproc.Run(ctx, subproc.Cmd{Path: f.agent, Env: subproc.Inherit(), Stdin: f.input(action),
		MaxOutput: maxOutput, KillLeftovers: true})
	text := f.summary([]byte(res.Output))
	var te *subproc.TimeoutError
	switch {
	case errors.As(err, &te):
		return -1, text, fmt.Errorf("fence agent %s: %s killed after %v: %w (output: %s)",
			f.agent, action, te.After, ctx.Err(), text)
	case err != nil:
		return -1, text, fmt.Errorf("fence agent %s: %s: %w", f.agent, action, err)
	}
	f.log.Debug("fence agent ran", "action", action, "exit", res.ExitCode, "duration", res.Elapsed)
	return res.ExitCode, text, nil
}

// input is the agent's stdin: action first, then the params, then the password.
func (f *Fencer) input(action string) []byte {
	var b bytes.Buffer
	b.WriteString("action=" + action + "\n")
	for _, a := range f.args {
		b.WriteString(a + "\n")
	}
	if f.password != nil {
		b.WriteString("password=")
		b.Write(f.password)
		b.WriteString("\n")
	}
	return b.Bytes()
}

// summary is the tail of the agent's output, on one line, password blanked
// (agents echo their ipmitool command line, -P included, when verbose).
func (f *Fencer) summary(out []byte) string {
	if len(f.password) > 0 {
		out = bytes.ReplaceAll(out, f.password, []byte("<redacted>"))
	}
	s := strings.Join(strings.Fields(string(out)), " ")
	if len(s) > errOutput {
		s = "..." + s[len(s)-errOutput:]
	}
	if s == "" {
		s = "(no output)"
	}
	return s
}
