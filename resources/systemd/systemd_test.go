package systemd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/resources"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestUnitName(t *testing.T) {
	for in, want := range map[string]string{
		"haproxy":         "haproxy.service",
		"haproxy.service": "haproxy.service",
		"getty@tty1":      "getty@tty1.service",
		"var-lib-x.mount": "var-lib-x.mount",
		"web.target":      "web.target",
		"a\\x2db.service": "a\\x2db.service",
	} {
		got, err := UnitName(in)
		if err != nil || got != want {
			t.Errorf("UnitName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "../etc/passwd", "a b", "x.conf", ".service", "haproxy;reboot"} {
		if _, err := UnitName(bad); err == nil {
			t.Errorf("UnitName(%q) accepted", bad)
		}
		if _, err := New(resources.Spec{Name: "r", Params: map[string]string{"unit": bad}}); err == nil {
			t.Errorf("New accepted unit %q", bad)
		}
	}
}

func TestNoBus(t *testing.T) {
	// This machine has no systemd and no system bus; point the client at a
	// socket that certainly does not exist so the test means the same
	// everywhere.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+t.TempDir()+"/no-bus")
	ag, err := New(resources.Spec{Name: "web", Params: map[string]string{"unit": "haproxy"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"start":   func() error { return ag.Start(ctxT(t, 2*time.Second)) },
		"stop":    func() error { return ag.Stop(ctxT(t, 2*time.Second)) },
		"monitor": func() error { _, err := ag.Monitor(ctxT(t, 2*time.Second)); return err },
	} {
		err := op()
		if !errors.Is(err, ErrNoBus) || !strings.HasPrefix(err.Error(), "cannot connect to systemd over D-Bus: ") {
			t.Errorf("%s: %v; want a clear no-bus error", name, err)
		}
	}
	if st, _ := ag.Monitor(ctxT(t, 2*time.Second)); st != resources.Failed {
		t.Errorf("monitor without a bus = %v, want failed", st)
	}
}

func TestJobErrorMessages(t *testing.T) {
	for result, want := range map[string]string{
		"failed":     "start web.service: the unit failed (see journalctl -u web.service)",
		"timeout":    "start web.service: systemd's own job timeout expired",
		"canceled":   "start web.service: the job was canceled (another job replaced it)",
		"dependency": "start web.service: a unit it depends on failed",
		"weird":      "start web.service: unexpected job result weird",
	} {
		if got := (&JobError{Op: "start", Unit: "web.service", Result: result}).Error(); got != want {
			t.Errorf("%s: %q, want %q", result, got, want)
		}
	}
}

func TestActiveStateMapping(t *testing.T) {
	for state, want := range map[string]resources.State{
		"active": resources.Running, "reloading": resources.Running, "inactive": resources.Stopped,
		"failed": resources.Failed, "activating": resources.Failed, "deactivating": resources.Failed,
	} {
		got, err := mapActiveState("u.service", state)
		if got != want || (want == resources.Failed) != (err != nil) {
			t.Errorf("%s: %v, %v; want %v", state, got, err, want)
		}
	}
}
