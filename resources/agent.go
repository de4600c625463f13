// Package resources defines the Agent contract that the executor drives and
// the registry of built-in agent types. Each agent type lives in its own
// subpackage (resources/ipaddr, resources/execagent, resources/ocf,
// resources/systemd, resources/aws).
package resources

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
)

// State is what a monitor observed.
type State int

const (
	Stopped State = iota // cleanly not running (OCF 7, LSB status 3)
	Running              // running and healthy
	Failed               // running but broken, or an error deciding
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Running:
		return "running"
	default:
		return "failed"
	}
}

// Agent manages one resource instance on the local node. Every method must
// honour ctx (the executor sets the per-operation timeout there) and be safe
// to call repeatedly: Start on a running resource and Stop on a stopped one
// succeed (Pacemaker's idempotency contract).
type Agent interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Monitor(ctx context.Context) (State, error)
}

// Spec is what a Factory needs to build an agent.
type Spec struct {
	Group  string
	Name   string
	Params map[string]string // validated keys from the config
	Node   string            // local node name
	RunDir string            // per-node scratch directory (e.g. HA_RSCTMP for OCF agents)
	Logger hclog.Logger
}

// Factory builds an agent from its spec, checking its parameters.
type Factory func(Spec) (Agent, error)

// Registry maps a resource type name ("ipaddr", "ocf", ...) to its factory.
// It is built in cmd/ (no package globals).
type Registry map[string]Factory

// ErrUnknownType is returned for a type with no registered factory.
var ErrUnknownType = errors.New("unknown resource type")

// New builds an agent of the given type.
func (r Registry) New(typ string, s Spec) (Agent, error) {
	f, ok := r[typ]
	if !ok {
		return nil, ErrUnknownType
	}
	return f(s)
}
