package systemd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/vigil-ha/vigil/resources"
)

// fakeSystemd answers the few org.freedesktop.systemd1 calls the agent
// makes, on a private dbus-daemon. Units behave by name:
//
//	web.service     starts and stops fine
//	broken.service  start job ends "failed", unit state "failed"
//	slow.service    start job ends "done" after 600ms
//	missing.service unknown to systemd (NoSuchUnit)
type fakeSystemd struct {
	conn    *dbus.Conn
	mu      sync.Mutex
	job     uint32
	st      map[string]string
	removed chan string // unit of each JobRemoved emitted, for tests to wait on
}

var fakeUnits = []string{"web.service", "broken.service", "slow.service"}

func (f *fakeSystemd) enqueue(name, op string) (dbus.ObjectPath, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.st[name]; !ok {
		return "", &dbus.Error{Name: "org.freedesktop.systemd1.NoSuchUnit", Body: []any{"Unit " + name + " not found."}}
	}
	f.job++
	id := f.job
	path := dbus.ObjectPath("/org/freedesktop/systemd1/job/" + itoa(id))
	result, delay := "done", time.Duration(0)
	switch {
	case op == "stop":
		f.st[name] = "inactive"
	case name == "broken.service":
		result, f.st[name] = "failed", "failed"
	case name == "slow.service":
		delay, f.st[name] = 600*time.Millisecond, "active"
	default:
		f.st[name] = "active"
	}
	go func() {
		time.Sleep(delay)
		_ = f.conn.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.JobRemoved", id, path, name, result)
		select {
		case f.removed <- name:
		default:
		}
	}()
	return path, nil
}

type manager struct{ f *fakeSystemd }

func (m manager) StartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.f.enqueue(name, "start")
}

func (m manager) StopUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.f.enqueue(name, "stop")
}

type unitProps struct {
	f    *fakeSystemd
	name string
}

func (u unitProps) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	u.f.mu.Lock()
	defer u.f.mu.Unlock()
	if iface != "org.freedesktop.systemd1.Unit" || prop != "ActiveState" {
		return dbus.Variant{}, &dbus.Error{Name: "org.freedesktop.DBus.Error.UnknownProperty", Body: []any{prop}}
	}
	return dbus.MakeVariant(u.f.st[u.name]), nil
}

func itoa(n uint32) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

// startFakeSystemd runs a private dbus-daemon, points the system-bus address
// at it and serves fakeSystemd there.
func startFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (apt-get install dbus)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	cfg := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfg, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=`+sock+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+cfg, "--nofork", "--nopidfile", "--nosyslog")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("dbus-daemon did not create its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	addr := "unix:path=" + sock
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeSystemd{conn: conn, st: map[string]string{}, removed: make(chan string, 16)}
	for _, u := range fakeUnits {
		f.st[u] = "inactive"
		if err := conn.Export(unitProps{f, u}, dbus.ObjectPath("/org/freedesktop/systemd1/unit/"+sddbus.PathBusEscape(u)),
			"org.freedesktop.DBus.Properties"); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Export(manager{f}, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.systemd1: %v %v", reply, err)
	}
	return f
}

func unitAgent(t *testing.T, unit string) resources.Agent {
	t.Helper()
	ag, err := New(resources.Spec{Name: "r", Params: map[string]string{"unit": unit}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ag.(*Agent).Close() })
	return ag
}

func TestFakeSystemdLifecycle(t *testing.T) {
	startFakeSystemd(t)
	ag := unitAgent(t, "web")
	ctx := ctxT(t, 5*time.Second)
	if st, err := ag.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor before start = %v, %v", st, err)
	}
	if err := ag.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if st, err := ag.Monitor(ctx); st != resources.Running || err != nil {
		t.Fatalf("monitor after start = %v, %v", st, err)
	}
	for i := range 2 {
		if err := ag.Stop(ctx); err != nil {
			t.Fatalf("stop #%d: %v", i+1, err)
		}
	}
	if st, err := ag.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor after stop = %v, %v", st, err)
	}
}

func TestFakeSystemdFailures(t *testing.T) {
	startFakeSystemd(t)
	ctx := ctxT(t, 5*time.Second)

	broken := unitAgent(t, "broken.service")
	err := broken.Start(ctx)
	var je *JobError
	if !errors.As(err, &je) || je.Result != "failed" || !strings.Contains(err.Error(), "journalctl -u broken.service") {
		t.Fatalf("start of a failing unit: %v", err)
	}
	if st, err := broken.Monitor(ctx); st != resources.Failed || err == nil {
		t.Fatalf("monitor of a failed unit = %v, %v", st, err)
	}

	missing := unitAgent(t, "missing")
	if err := missing.Start(ctx); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("start of an unknown unit: %v", err)
	}
	if err := missing.Stop(ctx); err != nil {
		t.Fatalf("stop of an unknown unit: %v", err)
	}
}

// TestJobTimeoutLeavesConnectionUsable: the start job outlives the
// operation's timeout; its late result must not wedge the connection (the
// result channel is buffered), so the stop that follows still completes.
func TestJobTimeoutLeavesConnectionUsable(t *testing.T) {
	f := startFakeSystemd(t)
	ag := unitAgent(t, "slow")
	err := ag.Start(ctxT(t, 200*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("start = %v; want a timeout", err)
	}
	// Wait for the late JobRemoved to go out on the bus.
	select {
	case u := <-f.removed:
		if u != "slow.service" {
			t.Fatalf("JobRemoved for %s, want slow.service", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the fake never emitted the slow job's JobRemoved")
	}
	// A wedged connection ignores ctx, so guard the call from outside.
	done := make(chan error, 1)
	go func() { done <- ag.Stop(ctxT(t, 2*time.Second)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop after a timed-out start: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stop hung: the late start result wedged the D-Bus connection")
	}
}
