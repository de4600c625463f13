package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bmcTestNS creates namespace name with lo up and removes it (after killing
// whatever still runs in it, by pid) at cleanup.
func bmcTestNS(t *testing.T, name string) {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", name).Run() // leftover of a crashed run
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		for _, pid := range netnsPids(name) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	bmcTestRun(t, "ip", "-n", name, "link", "set", "lo", "up")
}

func bmcTestRun(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

// TestBMCPowerOffKillsTheHostAndPowerOnRunsItsCommand drives ipmi_sim with
// plain ipmitool from a management namespace over a veth, as an operator
// would, and checks that the power commands have real effects.
func TestBMCPowerOffKillsTheHostAndPowerOnRunsItsCommand(t *testing.T) {
	Require(t)
	const bmcNS, mgrNS, victimNS = "vtfen-lab-bmc", "vtfen-lab-mgr", "vtfen-lab-victim"
	for _, ns := range []string{bmcNS, mgrNS, victimNS} {
		bmcTestNS(t, ns)
	}
	bmcTestRun(t, "ip", "-n", bmcNS, "link", "add", "bmc0", "type", "veth", "peer", "name", "mgr0", "netns", mgrNS)
	bmcTestRun(t, "ip", "-n", bmcNS, "addr", "add", "198.18.201.1/24", "dev", "bmc0")
	bmcTestRun(t, "ip", "-n", mgrNS, "addr", "add", "198.18.201.2/24", "dev", "mgr0")
	bmcTestRun(t, "ip", "-n", bmcNS, "link", "set", "bmc0", "up")
	bmcTestRun(t, "ip", "-n", mgrNS, "link", "set", "mgr0", "up")

	victim := exec.Command("ip", "netns", "exec", victimNS, "sleep", "1000")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	victimDone := make(chan error, 1)
	go func() { victimDone <- victim.Wait() }()

	onMarker := filepath.Join(t.TempDir(), "powered-on")
	bmc := StartBMC(t, bmcNS, "198.18.201.1", NetnsKillCommand(t, victimNS), []string{"touch", onMarker})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ipmi := func(args ...string) string {
		t.Helper()
		out, err := bmc.IpmitoolFrom(ctx, mgrNS, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if out := ipmi("chassis", "power", "status"); !strings.Contains(out, "Chassis Power is on") {
		t.Fatalf("initial status: %q", out)
	}
	if out := ipmi("chassis", "power", "off"); !strings.Contains(out, "Down/Off") {
		t.Fatalf("power off: %q", out)
	}
	select {
	case err := <-victimDone:
		if err == nil {
			t.Fatalf("victim exited cleanly; want killed")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("victim still running after chassis power off")
	}
	if pids := netnsPids(victimNS); len(pids) > 0 {
		t.Fatalf("victim namespace still has pids %v", pids)
	}
	if bmc.PoweredOn() {
		t.Fatalf("BMC state still on after power off")
	}
	if out := ipmi("chassis", "power", "status"); !strings.Contains(out, "Chassis Power is off") {
		t.Fatalf("status after off: %q", out)
	}

	if out := ipmi("chassis", "power", "on"); !strings.Contains(out, "Up/On") {
		t.Fatalf("power on: %q", out)
	}
	if _, err := os.Stat(onMarker); err != nil {
		t.Fatalf("power-on command did not run: %v", err)
	}
	if out := ipmi("chassis", "power", "status"); !strings.Contains(out, "Chassis Power is on") {
		t.Fatalf("status after on: %q", out)
	}
	if n := bmc.CountCalls("set power 0"); n != 1 {
		t.Fatalf("set power 0 calls = %d, want 1 (calls %v)", n, bmc.Calls())
	}
}

// TestBMCWrongPasswordIsRefused checks that the simulated BMC really
// authenticates (a fencing test against it would prove nothing otherwise).
func TestBMCWrongPasswordIsRefused(t *testing.T) {
	Require(t)
	const bmcNS, victimNS = "vtfen-lab-auth", "vtfen-lab-authv"
	bmcTestNS(t, bmcNS)
	bmcTestNS(t, victimNS)
	bmcTestRun(t, "ip", "-n", bmcNS, "link", "add", "a0", "type", "veth", "peer", "name", "a1")
	bmcTestRun(t, "ip", "-n", bmcNS, "addr", "add", "198.18.202.1/24", "dev", "a0")
	bmcTestRun(t, "ip", "-n", bmcNS, "link", "set", "a0", "up")
	bmcTestRun(t, "ip", "-n", bmcNS, "link", "set", "a1", "up")
	bmc := StartBMC(t, bmcNS, "198.18.202.1", NetnsKillCommand(t, victimNS), nil)

	bad := *bmc
	bad.Password = "not-the-password"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := bad.IpmitoolFrom(ctx, bmcNS, "chassis", "power", "off"); err == nil {
		t.Fatalf("power off with a wrong password succeeded: %q", out)
	}
	if !bmc.PoweredOn() || bmc.CountCalls("set power 0") != 0 {
		t.Fatalf("wrong password changed power: on=%v calls=%v", bmc.PoweredOn(), bmc.Calls())
	}
}
