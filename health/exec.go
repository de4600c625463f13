package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/subproc"
)

// maxExecOutput is how much of the tail of a command's output is kept.
const maxExecOutput = 1024

// ExecCheck runs a shell command; exit status 0 means healthy.
type ExecCheck struct {
	command string
}

// NewExec builds an exec check. Params: command (required), run as /bin/sh -c.
func NewExec(s Spec) (Check, error) {
	if err := ExecSchema().Check("exec check", s.Params); err != nil {
		return nil, err
	}
	cmd := strings.TrimSpace(s.Params["command"])
	if cmd == "" {
		return nil, errors.New("exec check: command is required")
	}
	return &ExecCheck{command: cmd}, nil
}

// Run executes the command once, with vigil's environment, in its own
// process group: on timeout the whole group is killed, so children the
// script started (curl, sleep...) die with it, and so do any it leaves
// behind when it exits (a check runs every few seconds; leftovers pile up).
func (c *ExecCheck) Run(ctx context.Context) Result {
	res, err := subproc.Run(ctx, subproc.Cmd{Path: "/bin/sh", Args: []string{"-c", c.command},
		Env: subproc.Inherit(), MaxOutput: maxExecOutput, KillLeftovers: true})
	text := res.Output
	if res.Truncated {
		text = "..." + text
	}
	out := Result{At: time.Now()}
	var te *subproc.TimeoutError
	switch {
	case errors.As(err, &te):
		out.Output = joinOutput("timeout: process group killed", text)
	case err != nil:
		out.Output = joinOutput(fmt.Sprintf("exec: %v", err), text)
	case res.ExitCode == 0:
		out.OK = true
		out.Output = text
	case res.ExitCode < 0:
		out.Output = joinOutput("killed by a signal", text)
	default:
		out.Output = joinOutput(fmt.Sprintf("exit status %d", res.ExitCode), text)
	}
	return out
}

func joinOutput(head, text string) string {
	if text == "" {
		return head
	}
	return head + ": " + text
}
