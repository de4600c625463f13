// Package ipmi fences a node by powering it off through its BMC over IPMI v2
// (lanplus), with bmclib's ipmitool provider, and confirms by reading the
// power state back.
package ipmi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/fencing"
)

const (
	defaultPort        = "623"
	defaultCipherSuite = "3" // without -C 3 ipmitool takes ~10 s per call; bmclib would also try 17
	callTimeout        = 10 * time.Second
	pollInterval       = 200 * time.Millisecond
	// offTimeout bounds an Off whose ctx has no deadline: a fence that never
	// returns would stall the coordinator as surely as one that lies.
	offTimeout = 60 * time.Second
)

// Fencer powers one node off through its BMC.
type Fencer struct {
	host, port, user, cipher, ipmitool string
	password                           string
	log                                hclog.Logger
}

var _ fencing.Fencer = (*Fencer)(nil)

// New builds an IPMI fencer from params host, port (623), username,
// cipher_suite (3), ipmitool_path (default: ipmitool on PATH) and the secret
// "password". Problems are reported now, not at fencing time.
func New(d fencing.Device) (fencing.Fencer, error) {
	f := &Fencer{
		host:     d.Params["host"],
		port:     d.Params["port"],
		user:     d.Params["username"],
		cipher:   d.Params["cipher_suite"],
		ipmitool: d.Params["ipmitool_path"],
		log:      d.Logger,
	}
	var errs []error
	if err := Schema().Check("ipmi fence", d.Params); err != nil {
		errs = append(errs, err)
	}
	if f.host == "" {
		errs = append(errs, errors.New("host is required"))
	}
	if f.user == "" {
		errs = append(errs, errors.New("username is required"))
	}
	pw, ok := d.Secrets["password"]
	if !ok {
		errs = append(errs, errors.New("password is required"))
	}
	f.password = string(pw)
	if f.port == "" {
		f.port = defaultPort
	} else if n, err := strconv.Atoi(f.port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("port %q is not a port number", f.port))
	}
	if f.cipher == "" {
		f.cipher = defaultCipherSuite
	} else if n, err := strconv.Atoi(f.cipher); err != nil || n < 0 || n > 17 {
		errs = append(errs, fmt.Errorf("cipher_suite %q is not an IPMI cipher suite (0-17)", f.cipher))
	}
	// bmclib silently drops its ipmitool provider when the binary is
	// missing; say so at config time instead.
	if f.ipmitool == "" {
		if _, err := exec.LookPath("ipmitool"); err != nil {
			errs = append(errs, fmt.Errorf("ipmitool not found on PATH (install ipmitool or set ipmitool_path): %w", err))
		}
	} else if _, err := os.Stat(f.ipmitool); err != nil {
		errs = append(errs, fmt.Errorf("ipmitool_path: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ipmi device %q: %w", d.Name, err)
	}
	if f.log == nil {
		f.log = hclog.NewNullLogger()
	}
	f.log = f.log.With("device", d.Name, "target", d.Target, "bmc", f.addr())
	return f, nil
}

func (f *Fencer) addr() string { return f.host + ":" + f.port }

func (f *Fencer) client() *bmclib.Client {
	opts := []bmclib.Option{
		bmclib.WithIpmitoolPort(f.port),
		bmclib.WithIpmitoolCipherSuite(f.cipher),
		bmclib.WithPerProviderTimeout(callTimeout),
	}
	if f.ipmitool != "" {
		opts = append(opts, bmclib.WithIpmitoolPath(f.ipmitool))
	}
	cl := bmclib.NewClient(f.host, f.user, f.password, opts...)
	cl.Registry.Drivers = cl.Registry.For("ipmitool")
	return cl
}

// session opens a client, runs fn, and always closes it.
func (f *Fencer) session(ctx context.Context, fn func(*bmclib.Client) error) (err error) {
	cl := f.client()
	if len(cl.Registry.Drivers) == 0 {
		return fmt.Errorf("ipmi %s: ipmitool provider unavailable", f.addr())
	}
	if err := cl.Open(ctx); err != nil {
		return f.fail(ctx, "open session", err)
	}
	defer func() {
		// Close runs even after ctx ended (bmclib gives it its own timeout).
		if cerr := cl.Close(ctx); cerr != nil && err == nil {
			f.log.Debug("closing BMC session failed", "error", f.redact(cerr.Error()))
		}
	}()
	return fn(cl)
}

// Off powers the target off and returns once the BMC reads it back as off.
// A target that is already off is left alone.
func (f *Fencer) Off(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := fencing.WithDefaultTimeout(ctx, offTimeout)
	defer cancel()
	return f.session(ctx, func(cl *bmclib.Client) error {
		if p, err := f.state(ctx, cl); err == nil && p == fencing.PowerOff {
			f.log.Info("target already powered off", "duration", time.Since(start))
			return nil
		}
		ok, err := cl.SetPowerState(ctx, "off")
		if err != nil {
			return f.fail(ctx, "power off", err)
		}
		if !ok {
			return fmt.Errorf("ipmi power off %s: BMC did not confirm the command", f.addr())
		}
		for {
			p, err := f.state(ctx, cl)
			if err == nil && p == fencing.PowerOff {
				f.log.Info("target powered off", "duration", time.Since(start))
				return nil
			}
			select {
			case <-ctx.Done():
				if err != nil {
					return f.fail(ctx, "confirm power off", err)
				}
				return fmt.Errorf("ipmi %s: power still reads %s after power off: %w", f.addr(), p, ctx.Err())
			case <-time.After(pollInterval):
			}
		}
	})
}

// On powers the target on and returns once the BMC confirmed the command.
func (f *Fencer) On(ctx context.Context) error {
	ctx, cancel := fencing.WithDefaultTimeout(ctx, offTimeout)
	defer cancel()
	return f.session(ctx, func(cl *bmclib.Client) error {
		ok, err := cl.SetPowerState(ctx, "on")
		if err != nil {
			return f.fail(ctx, "power on", err)
		}
		if !ok {
			return fmt.Errorf("ipmi power on %s: BMC did not confirm the command", f.addr())
		}
		f.log.Info("target powered on")
		return nil
	})
}

// Status reads the target's power state.
func (f *Fencer) Status(ctx context.Context) (fencing.Power, error) {
	p := fencing.PowerUnknown
	err := f.session(ctx, func(cl *bmclib.Client) error {
		var err error
		p, err = f.state(ctx, cl)
		return err
	})
	return p, err
}

func (f *Fencer) state(ctx context.Context, cl *bmclib.Client) (fencing.Power, error) {
	raw, err := cl.GetPowerState(ctx)
	if err != nil {
		return fencing.PowerUnknown, f.fail(ctx, "power status", err)
	}
	p := Normalize(raw)
	if p == fencing.PowerUnknown {
		return p, fmt.Errorf("ipmi %s: unrecognised power state %q", f.addr(), f.redact(raw))
	}
	return p, nil
}

// Normalize maps a BMC's power-state text ("Chassis Power is off\n" from
// ipmitool, "Off"/"On" from Redfish) to a fencing.Power. Transitional states
// still have power applied, so they count as on: a fence is done only at off.
func Normalize(raw string) fencing.Power {
	s := strings.ToLower(strings.TrimSpace(raw))
	s = strings.TrimPrefix(s, "chassis power is ")
	switch s {
	case "off", "poweredoff", "powered off":
		return fencing.PowerOff
	case "on", "poweredon", "powered on", "poweringoff", "powering off", "poweringon", "powering on":
		return fencing.PowerOn
	}
	return fencing.PowerUnknown
}

// fail describes a bmclib error. The text is copied with the password
// blanked rather than wrapped, so the secret cannot leak through the chain
// (ipmitool gets it via its environment, but its output is not ours to
// trust); a context error is wrapped so callers can tell a timeout.
func (f *Fencer) fail(ctx context.Context, op string, err error) error {
	msg := f.redact(strings.Join(strings.Fields(err.Error()), " "))
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("ipmi %s %s: %s: %w", op, f.addr(), msg, cerr)
	}
	return fmt.Errorf("ipmi %s %s: %s", op, f.addr(), msg)
}

func (f *Fencer) redact(s string) string {
	if f.password == "" {
		return s
	}
	return strings.ReplaceAll(s, f.password, "<redacted>")
}
