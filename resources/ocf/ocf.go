// Package ocf is the "ocf" resource type: it drives OCF resource agents
// (ClusterLabs resource-agents, e.g. ocf:heartbeat:IPaddr2) the way
// Pacemaker does.
//
//	agent        "provider:type", e.g. "heartbeat:IPaddr2"
//	ocf_root     default /usr/lib/ocf
//	params.<n>   passed as OCF_RESKEY_<n>
//
// Each action runs <ocf_root>/resource.d/<provider>/<type> <action> in its
// own process group (killed whole on timeout) with a clean environment: the
// OCF_* variables, HA_RSCTMP=<RunDir>/rsctmp (per node, so agents' state
// files never collide) and OCF_RESKEY_CRM_meta_timeout from the context
// deadline (some agents loop until it runs out).
package ocf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/internal/subproc"
	"github.com/vigil-ha/vigil/resources"
)

// TypeName is the resource type this package implements.
const TypeName = "ocf"

// DefaultRoot is where Debian's resource-agents package installs agents.
const DefaultRoot = "/usr/lib/ocf"

// OCF exit codes.
const (
	OK               = 0
	ErrGeneric       = 1
	ErrArgs          = 2
	ErrUnimplemented = 3
	ErrPerm          = 4
	ErrInstalled     = 5
	ErrConfigured    = 6
	NotRunning       = 7
	RunningPromoted  = 8
	FailedPromoted   = 9
)

// ExitName names an OCF exit code for error messages.
func ExitName(code int) string {
	switch code {
	case OK:
		return "OCF_SUCCESS (0)"
	case ErrGeneric:
		return "OCF_ERR_GENERIC (1)"
	case ErrArgs:
		return "OCF_ERR_ARGS (2)"
	case ErrUnimplemented:
		return "OCF_ERR_UNIMPLEMENTED (3)"
	case ErrPerm:
		return "OCF_ERR_PERM (4)"
	case ErrInstalled:
		return "OCF_ERR_INSTALLED (5)"
	case ErrConfigured:
		return "OCF_ERR_CONFIGURED (6)"
	case NotRunning:
		return "OCF_NOT_RUNNING (7)"
	case RunningPromoted:
		return "OCF_RUNNING_PROMOTED (8)"
	case FailedPromoted:
		return "OCF_FAILED_PROMOTED (9)"
	case -1:
		return "killed by a signal"
	default:
		return fmt.Sprintf("unknown exit code %d", code)
	}
}

// ExitError is an agent action that exited with a code other than success.
type ExitError struct {
	Action string
	Code   int
	Output string // tail of the agent's output
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("%s: %s", e.Action, ExitName(e.Code))
	if e.Output != "" {
		s += ": " + e.Output
	}
	return s
}

// Agent runs one OCF resource agent instance.
type Agent struct {
	root, provider, typ string
	path                string
	instance            string
	reskeys             []string // OCF_RESKEY_name=value, sorted
	rsctmp              string   // "" = the agent's default
	log                 hclog.Logger

	// prefix is prepended to every command line. Only tests set it (to
	// "ip netns exec NS"), to run agents inside a network namespace.
	prefix []string
}

// New builds an OCF agent from s.Params.
func New(s resources.Spec) (resources.Agent, error) {
	if err := Schema().Check(fmt.Sprintf("ocf resource %q", s.Name), s.Params); err != nil {
		return nil, err
	}
	a, err := parse(s)
	if err != nil {
		return nil, fmt.Errorf("ocf resource %q: %w", s.Name, err)
	}
	return a, nil
}

func parse(s resources.Spec) (*Agent, error) {
	provider, typ, err := SplitAgent(s.Params["agent"])
	if err != nil {
		return nil, err
	}
	root := s.Params["ocf_root"]
	if root == "" {
		root = DefaultRoot
	}
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("ocf_root %q must be an absolute path", root)
	}
	a := &Agent{
		root:     root,
		provider: provider,
		typ:      typ,
		path:     agentPath(root, provider, typ),
		instance: s.Name,
		log:      s.Logger,
	}
	if s.Group != "" {
		a.instance = s.Group + "-" + s.Name
	}
	if a.log == nil {
		a.log = hclog.NewNullLogger()
	}
	if s.RunDir != "" {
		a.rsctmp = filepath.Join(s.RunDir, "rsctmp")
	}
	for k, v := range s.Params {
		name, ok := strings.CutPrefix(k, "params.")
		if !ok {
			continue
		}
		if !validParamName(name) {
			return nil, fmt.Errorf("parameter name %q is not valid for an OCF agent", name)
		}
		a.reskeys = append(a.reskeys, "OCF_RESKEY_"+name+"="+v)
	}
	sort.Strings(a.reskeys)
	return a, nil
}

// SplitAgent parses "provider:type" (an "ocf:" prefix is accepted too).
func SplitAgent(agent string) (provider, typ string, err error) {
	parts := strings.Split(strings.TrimPrefix(agent, "ocf:"), ":")
	if len(parts) != 2 || !validComponent(parts[0]) || !validComponent(parts[1]) {
		return "", "", fmt.Errorf("agent %q must be provider:type, such as heartbeat:IPaddr2", agent)
	}
	return parts[0], parts[1], nil
}

func agentPath(root, provider, typ string) string {
	return filepath.Join(root, "resource.d", provider, typ)
}

// Start runs the start action.
func (a *Agent) Start(ctx context.Context) error {
	code, out, err := a.run(ctx, "start")
	if err != nil {
		return err
	}
	if code != OK {
		return &ExitError{Action: "start", Code: code, Output: out}
	}
	return nil
}

// Stop runs the stop action. "Not running" counts as stopped: some agents
// answer a stop of a stopped resource that way.
func (a *Agent) Stop(ctx context.Context) error {
	code, out, err := a.run(ctx, "stop")
	if err != nil {
		return err
	}
	if code != OK && code != NotRunning {
		return &ExitError{Action: "stop", Code: code, Output: out}
	}
	return nil
}

// Monitor runs the monitor action: 0 is running, 7 stopped, anything else
// failed.
func (a *Agent) Monitor(ctx context.Context) (resources.State, error) {
	code, out, err := a.run(ctx, "monitor")
	if err != nil {
		return resources.Failed, err
	}
	switch code {
	case OK:
		return resources.Running, nil
	case NotRunning:
		return resources.Stopped, nil
	default:
		return resources.Failed, &ExitError{Action: "monitor", Code: code, Output: out}
	}
}

// run executes one action and returns its exit code and output tail. err is
// set only when the agent could not be run or timed out.
func (a *Agent) run(ctx context.Context, action string) (int, string, error) {
	if _, err := os.Stat(a.path); errors.Is(err, os.ErrNotExist) {
		return ErrInstalled, "", fmt.Errorf("%s: OCF agent %s not found (is resource-agents installed?): %w",
			action, a.path, err)
	}
	if a.rsctmp != "" {
		if err := os.MkdirAll(a.rsctmp, 0o755); err != nil {
			return ErrGeneric, "", fmt.Errorf("%s: %w", action, err)
		}
	}
	args := append(append([]string{}, a.prefix...), a.path, action)
	res, err := subproc.Run(ctx, subproc.Cmd{Path: args[0], Args: args[1:], Dir: "/", Env: a.env(ctx)})
	if err != nil {
		if res.Output != "" {
			return res.ExitCode, res.Output, fmt.Errorf("%s: %w: %s", action, err, res.Output)
		}
		return res.ExitCode, res.Output, fmt.Errorf("%s: %w", action, err)
	}
	a.log.Debug("OCF action finished", "action", action, "code", res.ExitCode, "elapsed", res.Elapsed)
	return res.ExitCode, res.Output, nil
}

func (a *Agent) env(ctx context.Context) []string {
	env := []string{
		"OCF_ROOT=" + a.root,
		"OCF_RA_VERSION_MAJOR=1",
		"OCF_RA_VERSION_MINOR=1",
		"OCF_RESOURCE_INSTANCE=" + a.instance,
		"OCF_RESOURCE_TYPE=" + a.typ,
		"OCF_RESOURCE_PROVIDER=" + a.provider,
	}
	if a.rsctmp != "" {
		env = append(env, "HA_RSCTMP="+a.rsctmp)
	}
	if d := subproc.Deadline(ctx); d > 0 {
		env = append(env, "OCF_RESKEY_CRM_meta_timeout="+strconv.FormatInt(d.Milliseconds(), 10))
	}
	return append(env, a.reskeys...)
}

func validComponent(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
