package ipmi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/internal/syncbuf"
	"github.com/vigil-ha/vigil/test/fencetest"
)

// The fencer runs in the test process (root namespace) but its ipmitool is
// a wrapper that execs into the bed's mgr namespace, which reaches the BMC
// over a veth; the root namespace gets no lab addresses.
const nsPrefix = "vtfen-ipmi"

func newFencer(t testing.TB, bed *fencetest.Bed, host, password string, logs *syncbuf.Buffer) fencing.Fencer {
	t.Helper()
	log := hclog.NewNullLogger()
	if logs != nil {
		log = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	}
	f, err := New(fencing.Device{
		Name:   "victim-bmc",
		Target: "victim",
		Params: map[string]string{
			"host":          host,
			"username":      bed.BMC.User,
			"ipmitool_path": bed.InMgr("ipmitool"),
		},
		Secrets: map[string][]byte{"password": []byte(password)},
		Logger:  log,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

func TestOffKillsTheNodeAndConfirms(t *testing.T) {
	bed := fencetest.New(t, nsPrefix, 210)
	logs := &syncbuf.Buffer{}
	f := newFencer(t, bed, bed.BMC.Addr, bed.BMC.Password, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOn {
		t.Fatalf("Status before = %v, %v; want on", p, err)
	}
	start := time.Now()
	if err := f.Off(ctx); err != nil {
		t.Fatalf("Off: %v", err)
	}
	t.Logf("IPMI Off round trip (open, status, off, confirm) through ipmi_sim: %v", time.Since(start))
	if err := bed.WaitVictimDead(5 * time.Second); err != nil {
		t.Fatalf("Off returned but the node lives: %v", err)
	}
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOff {
		t.Fatalf("Status after = %v, %v; want off", p, err)
	}
	if strings.Contains(logs.String(), bed.BMC.Password) {
		t.Fatalf("password in logs:\n%s", logs.String())
	}

	// Fencing again (a retry, a second level, a new leader) must be a
	// no-op: no second power command reaches the chassis.
	if err := f.Off(ctx); err != nil {
		t.Fatalf("second Off: %v", err)
	}
	if n := bed.BMC.CountCalls("set power 0"); n != 1 {
		t.Fatalf("chassis got %d power-off commands, want 1: %v", n, bed.BMC.Calls())
	}

	// action = "reboot": On powers it on again through the BMC.
	bed.ExpectPowerOnAgain(ctx, f)
}

func TestOffOnAPoweredOffNodeSendsNothing(t *testing.T) {
	bed := fencetest.New(t, nsPrefix, 211)
	if err := bed.BMC.SetPower(false); err != nil {
		t.Fatal(err)
	}
	f := newFencer(t, bed, bed.BMC.Addr, bed.BMC.Password, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.Off(ctx); err != nil {
		t.Fatalf("Off: %v", err)
	}
	if n := bed.BMC.CountCalls("set power 0"); n != 0 {
		t.Fatalf("power-off sent to an off node: %v", bed.BMC.Calls())
	}
	// The victim stands in for "whatever the power-off would have hit".
	if !bed.VictimAlive() {
		t.Fatalf("victim killed although the node read off")
	}
}

func TestWrongPasswordFailsWithoutLeakingIt(t *testing.T) {
	bed := fencetest.New(t, nsPrefix, 212)
	const wrong = "Wr0ng-S3cret-xyz"
	logs := &syncbuf.Buffer{}
	f := newFencer(t, bed, bed.BMC.Addr, wrong, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	err := f.Off(ctx)
	if err == nil {
		t.Fatalf("Off with a wrong password succeeded")
	}
	t.Logf("error: %v", err)
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, wrong) || strings.Contains(s, bed.BMC.Password) {
			t.Fatalf("password leaked: %q", s)
		}
	}
	if !bed.VictimAlive() || !bed.BMC.PoweredOn() || bed.BMC.CountCalls("set power 0") != 0 {
		t.Fatalf("wrong password changed power: calls %v", bed.BMC.Calls())
	}
	if _, err := f.Status(ctx); err == nil {
		t.Fatalf("Status with a wrong password succeeded")
	}
}

// The device check (fencing.Check: a power read through bmclib) passes
// with the right password, fails with a wrong one without naming it, and
// never touches the power.
func TestCheckFindsAWrongPassword(t *testing.T) {
	bed := fencetest.New(t, nsPrefix, 215)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := fencing.Check(ctx, newFencer(t, bed, bed.BMC.Addr, bed.BMC.Password, nil)); err != nil {
		t.Fatalf("check with the right password: %v", err)
	}
	const wrong = "Wr0ng-S3cret-chk"
	logs := &syncbuf.Buffer{}
	err := fencing.Check(ctx, newFencer(t, bed, bed.BMC.Addr, wrong, logs))
	if err == nil {
		t.Fatal("check with a wrong password passed")
	}
	t.Logf("check error: %v", err)
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, wrong) || strings.Contains(s, bed.BMC.Password) {
			t.Fatalf("password leaked: %q", s)
		}
	}
	if !bed.VictimAlive() || bed.BMC.CountCalls("set power 0")+bed.BMC.CountCalls("set power 1") != 0 {
		t.Fatalf("a check changed power: %v", bed.BMC.Calls())
	}
}

func TestUnreachableBMCFailsWithinTheTimeout(t *testing.T) {
	bed := fencetest.New(t, nsPrefix, 213)
	f := newFencer(t, bed, bed.Unreachable, bed.BMC.Password, nil)
	const timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := f.Off(ctx)
	el := time.Since(start)
	if err == nil {
		t.Fatalf("Off against an unreachable BMC succeeded")
	}
	t.Logf("unreachable BMC: failed after %v: %v", el, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap the deadline: %v", err)
	}
	if el > timeout+3*time.Second {
		t.Fatalf("Off took %v with a %v timeout", el, timeout)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, d := range map[string]fencing.Device{
		"no host":      {Params: map[string]string{"username": "a"}, Secrets: map[string][]byte{"password": []byte("p")}},
		"no user":      {Params: map[string]string{"host": "h"}, Secrets: map[string][]byte{"password": []byte("p")}},
		"no password":  {Params: map[string]string{"host": "h", "username": "a"}},
		"bad port":     {Params: map[string]string{"host": "h", "username": "a", "port": "70000"}, Secrets: map[string][]byte{"password": []byte("p")}},
		"bad cipher":   {Params: map[string]string{"host": "h", "username": "a", "cipher_suite": "x"}, Secrets: map[string][]byte{"password": []byte("p")}},
		"missing tool": {Params: map[string]string{"host": "h", "username": "a", "ipmitool_path": "/nonexistent/ipmitool"}, Secrets: map[string][]byte{"password": []byte("p")}},
	} {
		if _, err := New(d); err == nil {
			t.Errorf("%s: New accepted %+v", name, d.Params)
		}
	}
	ok := fencing.Device{Params: map[string]string{"host": "198.18.0.1", "username": "admin"}, Secrets: map[string][]byte{"password": []byte("p")}}
	if _, err := New(ok); err != nil {
		t.Fatalf("New rejected a valid device: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	for raw, want := range map[string]fencing.Power{
		"Chassis Power is on\n":  fencing.PowerOn,
		"Chassis Power is off\n": fencing.PowerOff,
		"Off":                    fencing.PowerOff,
		"On":                     fencing.PowerOn,
		"PoweringOff":            fencing.PowerOn,
		"":                       fencing.PowerUnknown,
		"Error: no session":      fencing.PowerUnknown,
	} {
		if got := Normalize(raw); got != want {
			t.Errorf("Normalize(%q) = %v, want %v", raw, got, want)
		}
	}
}

// BenchmarkOffRoundTrip measures a confirmed IPMI power-off through ipmi_sim
// (session, status, off, status read-back), the BMC reset to on between runs.
func BenchmarkOffRoundTrip(b *testing.B) {
	bed := fencetest.New(b, nsPrefix, 214)
	f := newFencer(b, bed, bed.BMC.Addr, bed.BMC.Password, nil)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		if err := bed.BMC.SetPower(true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := f.Off(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
