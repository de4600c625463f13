// Package health defines the Check contract, the rise/fall state machine and
// the built-in check types (http, tcp, exec).
package health

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Result is the outcome of one check run.
type Result struct {
	OK     bool
	Output string // short, human-readable (status line, error, captured output)
	At     time.Time
}

// Check runs one probe. ctx carries the per-check timeout.
type Check interface {
	Run(ctx context.Context) Result
}

// Spec is what a Factory needs to build a check.
type Spec struct {
	Name   string
	Params map[string]string
	Logger hclog.Logger
}

// Factory builds a check from its spec, validating its parameters.
type Factory func(Spec) (Check, error)

// Registry maps a check type ("http", "tcp", "exec") to its factory; built in cmd/.
type Registry map[string]Factory

// ErrUnknownType is returned for a type with no registered factory.
var ErrUnknownType = errors.New("unknown check type")

// New builds a check of the given type.
func (r Registry) New(typ string, s Spec) (Check, error) {
	f, ok := r[typ]
	if !ok {
		return nil, ErrUnknownType
	}
	return f(s)
}
