// Package systemd is the "systemd" resource type: a unit started, stopped
// and watched through systemd's D-Bus API (no systemctl subprocess).
//
//	unit   unit name; ".service" is appended when there is no type suffix
//
// Start and Stop enqueue a job in "replace" mode and wait for its result
// (bounded by ctx). Monitor reads the unit's ActiveState: active or
// reloading is running, inactive stopped, anything else failed.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/resources"
)

// TypeName is the resource type this package implements.
const TypeName = "systemd"

// ErrNoBus wraps every failure to reach systemd.
var ErrNoBus = errors.New("cannot connect to systemd over D-Bus")

// JobError is a start or stop job that finished with a result other than
// "done".
type JobError struct {
	Op, Unit, Result string
}

func (e *JobError) Error() string {
	why := map[string]string{
		"canceled":   "the job was canceled (another job replaced it)",
		"timeout":    "systemd's own job timeout expired",
		"failed":     "the unit failed",
		"dependency": "a unit it depends on failed",
		"skipped":    "the job was skipped (the unit is not in a state it applies to)",
	}[e.Result]
	if why == "" {
		why = "unexpected job result " + e.Result
	}
	hint := ""
	if e.Result == "failed" {
		hint = " (see journalctl -u " + e.Unit + ")"
	}
	return fmt.Sprintf("%s %s: %s%s", e.Op, e.Unit, why, hint)
}

// Agent manages one unit.
type Agent struct {
	unit string
	log  hclog.Logger

	mu   sync.Mutex
	conn *sddbus.Conn // lazily dialled, replaced when it drops
}

// New builds a systemd agent from s.Params.
func New(s resources.Spec) (resources.Agent, error) {
	unit, err := UnitName(s.Params["unit"])
	if err != nil {
		return nil, fmt.Errorf("systemd resource %q: %w", s.Name, err)
	}
	if err := Schema().Check(fmt.Sprintf("systemd resource %q", s.Name), s.Params); err != nil {
		return nil, err
	}
	a := &Agent{unit: unit, log: s.Logger}
	if a.log == nil {
		a.log = hclog.NewNullLogger()
	}
	return a, nil
}

// UnitName checks a unit name and adds ".service" when it has no suffix.
func UnitName(s string) (string, error) {
	if s == "" {
		return "", errors.New("unit is required")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":-_.\\@", c)) {
			return "", fmt.Errorf("unit %q contains %q, which unit names cannot", s, c)
		}
	}
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return s + ".service", nil
	}
	switch s[dot+1:] {
	case "service", "socket", "target", "mount", "automount", "timer", "path", "swap", "slice", "scope", "device":
	default:
		return "", fmt.Errorf("unit %q has an unknown type suffix %q", s, s[dot+1:])
	}
	if dot == 0 || s[0] == '@' {
		return "", fmt.Errorf("unit %q has no name before its suffix", s)
	}
	return s, nil
}

// Start starts the unit and waits for the job, then checks it is active.
func (a *Agent) Start(ctx context.Context) error {
	if err := a.job(ctx, "start"); err != nil {
		return err
	}
	st, err := a.Monitor(ctx)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.unit, err)
	}
	if st != resources.Running {
		return fmt.Errorf("start %s: job done but the unit is %s (a oneshot unit needs RemainAfterExit=yes)", a.unit, st)
	}
	return nil
}

// Stop stops the unit and waits for the job. A unit systemd does not know
// is not running, so that is success.
func (a *Agent) Stop(ctx context.Context) error {
	err := a.job(ctx, "stop")
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.systemd1.NoSuchUnit" {
		return nil
	}
	return err
}

// Monitor maps the unit's ActiveState.
func (a *Agent) Monitor(ctx context.Context) (resources.State, error) {
	conn, err := a.connect()
	if err != nil {
		return resources.Failed, err
	}
	p, err := conn.GetUnitPropertyContext(ctx, a.unit, "ActiveState")
	if err != nil {
		a.checkConn(conn)
		return resources.Failed, fmt.Errorf("read ActiveState of %s: %w", a.unit, err)
	}
	state, _ := p.Value.Value().(string)
	return mapActiveState(a.unit, state)
}

func mapActiveState(unit, state string) (resources.State, error) {
	switch state {
	case "active", "reloading":
		return resources.Running, nil
	case "inactive":
		return resources.Stopped, nil
	default:
		// failed, activating (auto-restart after a crash), deactivating...
		return resources.Failed, fmt.Errorf("unit %s is %s", unit, state)
	}
}

func (a *Agent) job(ctx context.Context, op string) error {
	conn, err := a.connect()
	if err != nil {
		return err
	}
	// Buffered: if we stop waiting (timeout), go-systemd's signal
	// dispatcher must still be able to deliver the result without blocking
	// every other job on this connection.
	ch := make(chan string, 1)
	if op == "start" {
		_, err = conn.StartUnitContext(ctx, a.unit, "replace", ch)
	} else {
		_, err = conn.StopUnitContext(ctx, a.unit, "replace", ch)
	}
	if err != nil {
		a.checkConn(conn)
		return fmt.Errorf("%s %s: %w", op, a.unit, err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return &JobError{Op: op, Unit: a.unit, Result: res}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: the systemd job was still running when the operation timed out: %w", op, a.unit, ctx.Err())
	}
}

// connect returns the shared connection, dialling it on first use or after
// it dropped. The connection outlives any one operation's context.
func (a *Agent) connect() (*sddbus.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil && a.conn.Connected() {
		return a.conn, nil
	}
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
	conn, err := sddbus.NewSystemConnectionContext(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBus, err)
	}
	a.conn = conn
	return conn, nil
}

// checkConn forgets conn if it is no longer usable, so the next call redials.
func (a *Agent) checkConn(conn *sddbus.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == conn && !conn.Connected() {
		conn.Close()
		a.conn = nil
	}
}

// Close drops the D-Bus connection, if any. The agent redials on next use.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
	return nil
}
