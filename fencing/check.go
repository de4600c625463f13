package fencing

import (
	"context"
	"fmt"
)

// Checker is a device that can check itself without touching the target's
// power (a fence agent's action=monitor). It is an optional ability: a
// device without it is checked by reading the target's power state.
type Checker interface {
	Check(ctx context.Context) error
}

// Check verifies that a device would work if a fence were needed now
// (Pacemaker's stonith monitor): it is reachable and accepts our
// credentials. It uses the device's own Check when it has one, otherwise
// its Status (an IPMI power read through bmclib, an EC2 DescribeInstances):
// a power state read back, on or off, proves the device answers; an
// unrecognised state does not.
func Check(ctx context.Context, f Fencer) error {
	if f == nil {
		return fmt.Errorf("device not available")
	}
	if c, ok := f.(Checker); ok {
		return c.Check(ctx)
	}
	p, err := f.Status(ctx)
	if err != nil {
		return err
	}
	if p != PowerOn && p != PowerOff {
		return fmt.Errorf("device answered with power state %q", p)
	}
	return nil
}
