// Package fencetest builds the network-namespace testbed the fence-device
// tests share: a "bmc" namespace running ipmi_sim (lab.StartBMC), a "mgr"
// namespace that reaches it over a veth (where the fencer's tools run), and
// a "victim" namespace whose processes the BMC kills on power off.
//
// The root namespace is never touched: the fencers under test run their
// external tools (ipmitool, fence agents) through wrapper scripts that
// `ip netns exec` into the mgr namespace (see InMgr).
package fencetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/test/lab"
)

// Bed is one BMC + victim + management namespace trio.
type Bed struct {
	BMC         *lab.BMC
	MgrNS       string
	VictimNS    string
	Unreachable string // an address on the mgr link that nobody answers

	victimPid  int
	victimDone chan struct{}
	t          testing.TB
}

// New creates the namespaces "<prefix>-bmc", "<prefix>-mgr" and
// "<prefix>-victim" (prefix unique per test package, e.g. "vtfen-ipmi"),
// with 198.18.<octet>.1 for the BMC and .2 for mgr, starts `sleep 1000` in
// the victim and the BMC. It skips unless root with `ip netns`.
func New(t testing.TB, prefix string, octet int) *Bed {
	t.Helper()
	lab.Require(t)
	prefix += os.Getenv("VIGIL_LAB_ID") // checkouts side by side, as lab.New
	b := &Bed{MgrNS: prefix + "-mgr", VictimNS: prefix + "-victim", t: t}
	bmcNS := prefix + "-bmc"
	for _, ns := range []string{bmcNS, b.MgrNS, b.VictimNS} {
		addNS(t, ns)
	}
	bmcIP := fmt.Sprintf("198.18.%d.1", octet)
	mustRun(t, "ip", "-n", bmcNS, "link", "add", "bmc0", "type", "veth", "peer", "name", "mgr0", "netns", b.MgrNS)
	mustRun(t, "ip", "-n", bmcNS, "addr", "add", bmcIP+"/24", "dev", "bmc0")
	mustRun(t, "ip", "-n", b.MgrNS, "addr", "add", fmt.Sprintf("198.18.%d.2/24", octet), "dev", "mgr0")
	mustRun(t, "ip", "-n", bmcNS, "link", "set", "bmc0", "up")
	mustRun(t, "ip", "-n", b.MgrNS, "link", "set", "mgr0", "up")
	b.Unreachable = fmt.Sprintf("198.18.%d.9", octet)

	victim := exec.Command("ip", "netns", "exec", b.VictimNS, "sleep", "1000")
	if err := victim.Start(); err != nil {
		t.Fatalf("fencetest: start victim: %v", err)
	}
	b.victimPid, b.victimDone = victim.Process.Pid, make(chan struct{})
	go func() {
		_ = victim.Wait()
		close(b.victimDone)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(b.victimPid, syscall.SIGKILL)
		<-b.victimDone
	})

	b.BMC = lab.StartBMC(t, bmcNS, bmcIP, lab.NetnsKillCommand(t, b.VictimNS), nil)
	return b
}

// VictimAlive reports whether the victim's process still runs.
func (b *Bed) VictimAlive() bool {
	select {
	case <-b.victimDone:
		return false
	default:
		return true
	}
}

// WaitVictimDead waits up to d for the victim's process to be gone and the
// victim namespace to be empty.
func (b *Bed) WaitVictimDead(d time.Duration) error {
	select {
	case <-b.victimDone:
	case <-time.After(d):
		return fmt.Errorf("victim pid %d still running after %v", b.victimPid, d)
	}
	out, err := exec.Command("ip", "netns", "pids", b.VictimNS).Output()
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("victim namespace still has pids %s", s)
	}
	return nil
}

// InMgr writes a wrapper script that runs bin (absolute path or name on
// PATH) inside the mgr namespace with the wrapper's arguments, stdin and
// environment, and returns its path. It uses absolute paths because bmclib
// runs ipmitool with an empty environment (no PATH).
func (b *Bed) InMgr(bin string) string {
	b.t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		b.t.Fatalf("fencetest: %v", err)
	}
	if !filepath.IsAbs(bin) {
		if bin, err = exec.LookPath(bin); err != nil {
			b.t.Fatalf("fencetest: %v", err)
		}
	}
	path := filepath.Join(b.t.TempDir(), "in-mgr-"+filepath.Base(bin))
	script := fmt.Sprintf("#!/bin/sh\nexec '%s' netns exec '%s' '%s' \"$@\"\n", ip, b.MgrNS, bin)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		b.t.Fatalf("fencetest: %v", err)
	}
	return path
}

func addNS(t testing.TB, name string) {
	t.Helper()
	killNS(name) // leftover of a crashed run
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { killNS(name) })
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
}

// killNS kills every process of namespace name by pid, then deletes it.
func killNS(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
}

func mustRun(t testing.TB, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("fencetest: %s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

// ExpectPowerOnAgain calls f.On on the bed's powered-off victim (a device
// with action = "reboot") and checks that the chassis got exactly one
// power-on command and reads on again.
func (b *Bed) ExpectPowerOnAgain(ctx context.Context, f fencing.Fencer) {
	b.t.Helper()
	if err := f.On(ctx); err != nil {
		b.t.Fatalf("On: %v", err)
	}
	if n := b.BMC.CountCalls("set power 1"); n != 1 {
		b.t.Fatalf("chassis got %d power-on commands, want 1: %v", n, b.BMC.Calls())
	}
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOn {
		b.t.Fatalf("Status after On = %v, %v; want on", p, err)
	}
}
