package execfence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/test/fencetest"
)

const fenceIpmilan = "/usr/sbin/fence_ipmilan"

// ipmilanDevice points fence_ipmilan (run inside the bed's mgr namespace by
// a wrapper that execs into it, so stdin and the process group pass through)
// at the bed's ipmi_sim.
func ipmilanDevice(t *testing.T, bed *fencetest.Bed, password string) fencing.Device {
	t.Helper()
	if _, err := os.Stat(fenceIpmilan); err != nil {
		t.Fatalf("%s missing (Debian package fence-agents): %v", fenceIpmilan, err)
	}
	return fencing.Device{
		Name: "victim-ipmilan", Target: "victim",
		Params: map[string]string{
			"agent":           bed.InMgr(fenceIpmilan),
			"params.ip":       bed.BMC.Addr,
			"params.username": bed.BMC.User,
			"params.lanplus":  "1",
			"params.cipher":   bed.BMC.CipherSuite,
			"params.verbose":  "1",                 // its ipmitool command lines land in our error text
			"password_file":   "/etc/vigil/bmc.pw", // read by configs into Secrets; must not reach the agent
		},
		Secrets: map[string][]byte{"password": []byte(password)},
	}
}

func TestFenceIpmilanPowersTheNodeOff(t *testing.T) {
	bed := fencetest.New(t, "vtfen-exec", 220)
	f, err := New(ipmilanDevice(t, bed, bed.BMC.Password))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOn {
		t.Fatalf("Status before = %v, %v; want on", p, err)
	}
	start := time.Now()
	if err := f.Off(ctx); err != nil {
		t.Fatalf("Off: %v", err)
	}
	t.Logf("fence_ipmilan off + confirm: %v", time.Since(start))
	if err := bed.WaitVictimDead(5 * time.Second); err != nil {
		t.Fatalf("Off returned but the node lives: %v", err)
	}
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOff {
		t.Fatalf("Status after = %v, %v; want off", p, err)
	}
	// action = "reboot": fence_ipmilan's action=on powers it on again.
	bed.ExpectPowerOnAgain(ctx, f)
}

func TestFenceIpmilanWrongPasswordFailsWithoutLeakingIt(t *testing.T) {
	bed := fencetest.New(t, "vtfen-exec", 221)
	const wrong = "Wr0ng-S3cret-xyz"
	f, err := New(ipmilanDevice(t, bed, wrong))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = f.Off(ctx)
	if err == nil {
		t.Fatalf("Off with a wrong password succeeded")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("password in error: %v", err)
	}
	if !bed.VictimAlive() || bed.BMC.CountCalls("set power 0") != 0 {
		t.Fatalf("wrong password changed power: %v", bed.BMC.Calls())
	}
}

// Check runs fence_ipmilan's action=monitor: it passes with the right
// password and fails with a wrong one, naming neither, and leaves the power
// alone.
func TestCheckRunsMonitor(t *testing.T) {
	bed := fencetest.New(t, "vtfen-exec", 222)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good, err := New(ipmilanDevice(t, bed, bed.BMC.Password))
	if err != nil {
		t.Fatal(err)
	}
	if err := fencing.Check(ctx, good); err != nil {
		t.Fatalf("monitor with the right password: %v", err)
	}
	const wrong = "Wr0ng-S3cret-mon"
	bad, err := New(ipmilanDevice(t, bed, wrong))
	if err != nil {
		t.Fatal(err)
	}
	err = fencing.Check(ctx, bad)
	if err == nil {
		t.Fatal("monitor with a wrong password passed")
	}
	t.Logf("monitor error: %v", err)
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), bed.BMC.Password) {
		t.Fatalf("password in error: %v", err)
	}
	if !bed.VictimAlive() || bed.BMC.CountCalls("set power 0")+bed.BMC.CountCalls("set power 1") != 0 {
		t.Fatalf("a check changed power: %v", bed.BMC.Calls())
	}
}

// fakeAgent writes a shell fence agent to dir and returns its path. body
// sees $dir; the stdin it got is saved to $dir/stdin.<action>, its argument
// count to $dir/argc.
func fakeAgent(t *testing.T, body string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "fence_fake")
	script := fmt.Sprintf(`#!/bin/sh
dir=%q
echo $# >"$dir/argc"
input=$(cat)
action=$(printf '%%s\n' "$input" | sed -n 's/^action=//p')
printf '%%s\n' "$input" >"$dir/stdin.$action"
%s
`, dir, body)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

func newFake(t *testing.T, agent string, params map[string]string, password string) fencing.Fencer {
	t.Helper()
	d := fencing.Device{Name: "fake", Target: "n1", Params: map[string]string{"agent": agent}}
	for k, v := range params {
		d.Params[k] = v
	}
	if password != "" {
		d.Secrets = map[string][]byte{"password": []byte(password)}
	}
	f, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStdinProtocolAndStatusCodes(t *testing.T) {
	// Power lives in $dir/power; off writes it, status maps it to 0/2.
	agent, dir := fakeAgent(t, `
case "$action" in
off) echo off >"$dir/power" ;;
status) [ "$(cat "$dir/power" 2>/dev/null)" = off ] && exit 2; exit 0 ;;
*) exit 1 ;;
esac`)
	f := newFake(t, agent, map[string]string{"params.ip": "198.18.0.5", "params.lanplus": "1", "password_file": "/etc/vigil/fake.pw"}, "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOn {
		t.Fatalf("Status = %v, %v; want on", p, err)
	}
	if err := f.Off(ctx); err != nil {
		t.Fatalf("Off: %v", err)
	}
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOff {
		t.Fatalf("Status = %v, %v; want off", p, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "stdin.off"))
	if want := "action=off\nip=198.18.0.5\nlanplus=1\npassword=s3cret\n"; string(got) != want {
		t.Fatalf("agent stdin = %q, want %q", got, want)
	}
	if argc, _ := os.ReadFile(filepath.Join(dir, "argc")); strings.TrimSpace(string(argc)) != "0" {
		t.Fatalf("agent got %s arguments, want none", argc)
	}
}

func TestOffWaitsForStatusToReadOff(t *testing.T) {
	// The agent claims success at once but the power drops only at the
	// third status call, as with a slow BMC.
	agent, dir := fakeAgent(t, `
case "$action" in
off) exit 0 ;;
status) n=$(cat "$dir/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n >"$dir/n"; [ $n -ge 3 ] && exit 2; exit 0 ;;
esac`)
	f := newFake(t, agent, nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Off(ctx); err != nil {
		t.Fatalf("Off: %v", err)
	}
	if n, _ := os.ReadFile(filepath.Join(dir, "n")); strings.TrimSpace(string(n)) != "3" {
		t.Fatalf("status ran %s times, want 3", n)
	}

	// One that never reads off must fail, at the deadline.
	stuck, _ := fakeAgent(t, `exit 0`)
	f = newFake(t, stuck, nil, "")
	ctx, cancel = context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if err := f.Off(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Off on a node that stays on = %v, want deadline exceeded", err)
	}
}

func TestFailureOutputIsRedactedAndStatusErrorsAreUnknown(t *testing.T) {
	agent, _ := fakeAgent(t, `echo "ipmitool -P $(printf '%s\n' "$input" | sed -n 's/^password=//p') failed" >&2; exit 1`)
	f := newFake(t, agent, nil, "hunter2-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.Off(ctx)
	if err == nil || strings.Contains(err.Error(), "hunter2-secret") || !strings.Contains(err.Error(), "<redacted>") {
		t.Fatalf("Off error = %v; want a failure with the password redacted", err)
	}
	if p, err := f.Status(ctx); err == nil || p != fencing.PowerUnknown {
		t.Fatalf("Status on exit 1 = %v, %v; want unknown and an error", p, err)
	}
}

func TestTimeoutKillsTheAgentsProcessGroup(t *testing.T) {
	// The agent forks a long-running child (like ipmitool) and hangs.
	agent, dir := fakeAgent(t, `sleep 100 & echo $! >"$dir/child"; wait`)
	f := newFake(t, agent, nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := f.Off(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Off = %v, want deadline exceeded", err)
	}
	t.Logf("Off returned %v after its start", time.Since(start))
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Off took %v after a 300ms timeout", el)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("agent's child %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	agent, _ := fakeAgent(t, "exit 0")
	for name, d := range map[string]fencing.Device{
		"no agent":        {Params: map[string]string{}},
		"missing agent":   {Params: map[string]string{"agent": "/nonexistent/fence_x"}},
		"action in param": {Params: map[string]string{"agent": agent, "params.action": "reboot"}},
		"newline inject":  {Params: map[string]string{"agent": agent, "params.ip": "1.2.3.4\naction=on"}},
		"bad key":         {Params: map[string]string{"agent": agent, "params.a=b": "x"}},
		"two passwords":   {Params: map[string]string{"agent": agent, "params.password": "x"}, Secrets: map[string][]byte{"password": []byte("y")}},
		"unknown key":     {Params: map[string]string{"agent": agent, "ip": "1.2.3.4"}}, // meant params.ip
	} {
		if _, err := New(d); err == nil {
			t.Errorf("%s: New accepted %v", name, d.Params)
		}
	}
}

// alive reports whether pid runs (a zombie waiting for PID 1 to reap it
// does not count).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Fields after the ")" closing the command name: state first.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}
