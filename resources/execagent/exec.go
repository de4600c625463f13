// Package execagent is the "exec" resource type: three shell commands with
// LSB init-script semantics.
//
//	start, stop, status  run with /bin/sh -c
//	dir                  working directory (optional, absolute)
//	env.<NAME>           extra environment variables
//
// status exit 0 means running, 3 means stopped, anything else failed; start
// and stop succeed on exit 0. Stop runs status first, so stopping a stopped
// resource succeeds without running stop. Commands get a clean environment:
// PATH, VIGIL_GROUP, VIGIL_RESOURCE, VIGIL_NODE and the env.* keys. On
// timeout the command's whole process group is killed. A command that leaves
// a daemon behind should redirect the daemon's output: the pipe is closed
// once the command itself exits.
package execagent

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/internal/subproc"
	"github.com/vigil-ha/vigil/resources"
)

// TypeName is the resource type this package implements.
const TypeName = "exec"

// LSB status exit codes that mean something other than failure.
const (
	lsbRunning = 0
	lsbStopped = 3
)

// Agent runs the configured commands.
type Agent struct {
	start, stop, status string
	dir                 string
	env                 []string
	log                 hclog.Logger
}

// New builds an exec agent from s.Params.
func New(s resources.Spec) (resources.Agent, error) {
	a := &Agent{
		start:  strings.TrimSpace(s.Params["start"]),
		stop:   strings.TrimSpace(s.Params["stop"]),
		status: strings.TrimSpace(s.Params["status"]),
		dir:    s.Params["dir"],
		log:    s.Logger,
	}
	if a.log == nil {
		a.log = hclog.NewNullLogger()
	}
	for _, k := range []string{"start", "stop", "status"} {
		if strings.TrimSpace(s.Params[k]) == "" {
			return nil, fmt.Errorf("exec resource %q: %s command is required", s.Name, k)
		}
	}
	if err := Schema().Check(fmt.Sprintf("exec resource %q", s.Name), s.Params); err != nil {
		return nil, err
	}
	if a.dir != "" && !filepath.IsAbs(a.dir) {
		return nil, fmt.Errorf("exec resource %q: dir %q must be an absolute path", s.Name, a.dir)
	}
	a.env = []string{
		"VIGIL_GROUP=" + s.Group,
		"VIGIL_RESOURCE=" + s.Name,
		"VIGIL_NODE=" + s.Node,
	}
	var extra []string
	for k, v := range s.Params {
		name, ok := strings.CutPrefix(k, "env.")
		if !ok {
			continue
		}
		if !validEnvName(name) {
			return nil, fmt.Errorf("exec resource %q: env key %q is not a valid variable name", s.Name, name)
		}
		extra = append(extra, name+"="+v)
	}
	sort.Strings(extra) // deterministic, and env.* may override PATH
	a.env = append(a.env, extra...)
	return a, nil
}

// Start runs the start command.
func (a *Agent) Start(ctx context.Context) error {
	return a.mustSucceed(ctx, "start", a.start)
}

// Stop runs status, then stop unless the resource is already stopped.
func (a *Agent) Stop(ctx context.Context) error {
	st, err := a.Monitor(ctx)
	if err == nil && st == resources.Stopped {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stop: status: %w", err)
	}
	return a.mustSucceed(ctx, "stop", a.stop)
}

// Monitor runs the status command and maps its LSB exit code.
func (a *Agent) Monitor(ctx context.Context) (resources.State, error) {
	res, err := a.run(ctx, a.status)
	if err != nil {
		return resources.Failed, fmt.Errorf("status: %w%s", err, outputSuffix(res.Output))
	}
	switch res.ExitCode {
	case lsbRunning:
		return resources.Running, nil
	case lsbStopped:
		return resources.Stopped, nil
	default:
		return resources.Failed, fmt.Errorf("status exited with %s%s", exitText(res.ExitCode), outputSuffix(res.Output))
	}
}

func (a *Agent) mustSucceed(ctx context.Context, op, script string) error {
	res, err := a.run(ctx, script)
	if err != nil {
		return fmt.Errorf("%s: %w%s", op, err, outputSuffix(res.Output))
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s exited with %s%s", op, exitText(res.ExitCode), outputSuffix(res.Output))
	}
	a.log.Debug("command succeeded", "op", op, "elapsed", res.Elapsed)
	return nil
}

func (a *Agent) run(ctx context.Context, script string) (subproc.Result, error) {
	return subproc.Run(ctx, subproc.Cmd{
		Path: "/bin/sh",
		Args: []string{"-c", script},
		Dir:  a.dir,
		Env:  a.env,
	})
}

func exitText(code int) string {
	if code < 0 {
		return "a signal"
	}
	return fmt.Sprintf("status %d", code)
}

func outputSuffix(out string) string {
	if out == "" {
		return ""
	}
	return ": " + out
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
