// Package fencing defines the Fencer contract (power a node off and confirm),
// fencing levels, delays and the registry of device types. Device types live
// in subpackages (fencing/ipmi, fencing/exec, fencing/aws).
package fencing

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Power is a normalised power state.
type Power string

const (
	PowerOn      Power = "on"
	PowerOff     Power = "off"
	PowerUnknown Power = "unknown"
)

// Fencer powers one target off. Off returns nil only once the target's power
// state has been read back as off (or the instance as stopped): a fence that
// is merely "requested" is not a fence.
type Fencer interface {
	Off(ctx context.Context) error
	// On powers the target on again (a fence device's action = "reboot",
	// after the fence was confirmed and committed); nil once the device
	// accepted the command. Nothing waits for the target to boot.
	On(ctx context.Context) error
	Status(ctx context.Context) (Power, error)
}

// Device describes one configured fencing device bound to one target node.
type Device struct {
	Name    string
	Target  string            // node name being fenced
	Params  map[string]string // validated keys from the config
	Secrets map[string][]byte // password etc., never logged
	Logger  hclog.Logger
}

// Factory builds a fencer for a device.
type Factory func(Device) (Fencer, error)

// Registry maps a device type ("ipmi", "exec", "aws") to its factory; built in cmd/.
type Registry map[string]Factory

// ErrUnknownType is returned for a type with no registered factory.
var ErrUnknownType = errors.New("unknown fence device type")

// New builds a fencer of the given type.
func (r Registry) New(typ string, d Device) (Fencer, error) {
	f, ok := r[typ]
	if !ok {
		return nil, ErrUnknownType
	}
	return f(d)
}

// WithDefaultTimeout bounds ctx by d unless it has a deadline already (a
// device's Off or On called without one).
func WithDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
