package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BMC is a simulated baseboard management controller: OpenIPMI's ipmi_sim
// listening on Addr:Port (IPMI v2 lanplus, cipher suite 3) in a namespace,
// whose chassis power control runs real commands. Everything in it is
// self-contained so that any test can pair it with any kind of "host".
type BMC struct {
	Addr        string // IP the BMC listens on (inside NS)
	Port        int    // UDP port, always 623
	User        string // admin-privilege user
	Password    string // that user's password (random per BMC)
	CipherSuite string // always "3": other suites are slow or fail with ipmi_sim
	NS          string // namespace ipmi_sim runs in
	Dir         string // configs, state, logs
	Pid         int    // ipmi_sim's pid

	state   string // file holding "1" (on) or "0" (off)
	callLog string // one line per chassis-script call

	cmd  *exec.Cmd
	done chan struct{}
}

// StartBMC runs ipmi_sim inside namespace ns, which must already have addr on
// an up interface. Its chassis control script answers `get power` from a
// state file (initially on); `set power 0` runs powerOff (argv, exec'd
// directly, no shell) and records off only if that command succeeded;
// `set power 1` runs powerOn (nil: nothing to run) and records on. Configs,
// state and logs live under t.TempDir(); ipmi_sim is killed by pid at
// cleanup. StartBMC returns once an ipmitool session from inside ns works.
func StartBMC(t testing.TB, ns, addr string, powerOff, powerOn []string) *BMC {
	t.Helper()
	if len(powerOff) == 0 {
		t.Fatalf("lab: StartBMC: powerOff command is required")
	}
	for _, bin := range []string{"ipmi_sim", "ipmitool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("lab: StartBMC: %s not found (Debian packages openipmi, ipmitool): %v", bin, err)
		}
	}
	dir := t.TempDir()
	b := &BMC{
		Addr: addr, Port: 623, User: "admin", Password: bmcRandomPassword(t), CipherSuite: "3",
		NS: ns, Dir: dir,
		state:   filepath.Join(dir, "power"),
		callLog: filepath.Join(dir, "chassis.log"),
		done:    make(chan struct{}),
	}
	stateDir := filepath.Join(dir, "state")
	script := filepath.Join(dir, "chassis.sh")
	bmcMust(t, os.MkdirAll(stateDir, 0o700))
	bmcMust(t, os.WriteFile(b.state, []byte("1\n"), 0o600))
	bmcMust(t, os.WriteFile(script, []byte(bmcChassisScript(b.state, b.callLog, powerOff, powerOn)), 0o700))
	bmcMust(t, os.WriteFile(filepath.Join(dir, "lan.conf"), []byte(bmcLanConf(b, script)), 0o600))
	bmcMust(t, os.WriteFile(filepath.Join(dir, "bmc.emu"), []byte(bmcEmu), 0o600))

	logPath := filepath.Join(dir, "ipmi_sim.log")
	logf, err := os.Create(logPath)
	bmcMust(t, err)
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", ns, "ipmi_sim",
		"-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "bmc.emu"), "-s", stateDir, "-n")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("lab: start ipmi_sim in %s: %v", ns, err)
	}
	b.cmd, b.Pid = cmd, cmd.Process.Pid // `ip netns exec` execs: this is ipmi_sim itself
	go func() {
		_ = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("lab: BMC %s in %s: ipmi_sim log:\n%s\nchassis calls:\n%s",
				addr, ns, bmcTail(logPath, 30), bmcTail(b.callLog, 30))
		}
	})

	if err := b.waitReady(5 * time.Second); err != nil {
		t.Fatalf("lab: BMC %s in %s not ready: %v\nipmi_sim log:\n%s", addr, ns, err, bmcTail(logPath, 30))
	}
	return b
}

// stop kills ipmi_sim (and anything in its process group) by pid and waits.
func (b *BMC) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = syscall.Kill(-b.Pid, syscall.SIGKILL)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
	}
}

// waitReady polls with ipmitool from inside the BMC's namespace until a
// lanplus session succeeds, proving address, user and cipher suite.
func (b *BMC) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-b.done:
			return fmt.Errorf("ipmi_sim exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, last = b.ipmitool(ctx, "chassis", "power", "status")
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// IpmitoolFrom runs `ipmitool -I lanplus ... args` against the BMC from
// namespace ns and returns its combined output.
func (b *BMC) IpmitoolFrom(ctx context.Context, ns string, args ...string) (string, error) {
	argv := append([]string{"netns", "exec", ns, "ipmitool", "-I", "lanplus", "-C", b.CipherSuite,
		"-N", "1", "-R", "1", "-H", b.Addr, "-p", fmt.Sprint(b.Port), "-U", b.User, "-E"}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = append(os.Environ(), "IPMITOOL_PASSWORD="+b.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ipmitool %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (b *BMC) ipmitool(ctx context.Context, args ...string) (string, error) {
	return b.IpmitoolFrom(ctx, b.NS, args...)
}

// PoweredOn reports the power state the BMC holds (its state file).
func (b *BMC) PoweredOn() bool {
	raw, err := os.ReadFile(b.state)
	return err != nil || strings.TrimSpace(string(raw)) != "0"
}

// SetPower changes the recorded power state without running any command
// (e.g. a test that starts with the node off).
func (b *BMC) SetPower(on bool) error {
	v := "0\n"
	if on {
		v = "1\n"
	}
	return os.WriteFile(b.state, []byte(v), 0o600)
}

// Calls returns the chassis-control calls so far, one "get power" /
// "set power 0" ... string each, oldest first.
func (b *BMC) Calls() []string {
	raw, err := os.ReadFile(b.callLog)
	if err != nil {
		return nil
	}
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "call: ") {
			calls = append(calls, strings.TrimPrefix(l, "call: "))
		}
	}
	return calls
}

// CountCalls counts the chassis-control calls equal to call ("set power 0").
func (b *BMC) CountCalls(call string) int {
	n := 0
	for _, c := range b.Calls() {
		if c == call {
			n++
		}
	}
	return n
}

// bmcLanConf is lab-recipes.md's lan.conf with our address, password and script.
func bmcLanConf(b *BMC, script string) string {
	return fmt.Sprintf(`name "vigilbmc"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcde3
  endlan
  chassis_control "%s 3"
  user 1 true  ""      "test" user  10 none md2 md5 straight
  user 2 true  "%s" "%s" admin 10 none md2 md5 straight
`, b.Addr, b.Port, script, b.User, b.Password)
}

const bmcEmu = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`

// bmcChassisScript writes the chassis_control program. ipmi_sim runs it as
// `script 3 get power [more...]` (print "power:1|0") or `script 3 set power
// 0|1 [more pairs...]`; the leading MC number is skipped whatever it is.
// Unknown parameters are ignored so that ipmi_sim never sees garbage.
func bmcChassisScript(state, callLog string, powerOff, powerOn []string) string {
	on := ":"
	if len(powerOn) > 0 {
		on = bmcShellJoin(powerOn)
	}
	return fmt.Sprintf(`#!/bin/sh
# chassis_control for ipmi_sim, written by lab.StartBMC.
state=%s
log=%s
echo "argv: $*" >>"$log"
while [ $# -gt 0 ] && [ "$1" != get ] && [ "$1" != set ]; do shift; done
op=$1
[ $# -gt 0 ] && shift
power() { p=1; [ -r "$state" ] && read -r p <"$state"; [ "$p" = 0 ] || p=1; echo "$p"; }
record() { echo "$1" >"$state.tmp" && mv -f "$state.tmp" "$state"; }
rc=0
case "$op" in
get)
	for parm in "$@"; do
		echo "call: get $parm" >>"$log"
		[ "$parm" = power ] && echo "power:$(power)"
	done ;;
set)
	while [ $# -ge 2 ]; do
		parm=$1 val=$2
		shift 2
		echo "call: set $parm $val" >>"$log"
		case "$parm $val" in
		"power 0")
			if %s >>"$log" 2>&1; then record 0; else rc=1; echo "power-off command failed" >>"$log"; fi ;;
		"power 1")
			if %s >>"$log" 2>&1; then record 1; else rc=1; echo "power-on command failed" >>"$log"; fi ;;
		esac
	done ;;
*)
	echo "unknown call" >>"$log"; rc=1 ;;
esac
exit $rc
`, bmcShellQuote(state), bmcShellQuote(callLog), bmcShellJoin(powerOff), on)
}

func bmcShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = bmcShellQuote(a)
	}
	return strings.Join(q, " ")
}

func bmcShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func bmcRandomPassword(t testing.TB) string {
	// ipmi_sim caps passwords at 20 bytes (IPMI v2).
	buf := make([]byte, 8)
	if _, err := rand.Read(buf); err != nil {
		t.Fatalf("lab: %v", err)
	}
	return "pw-" + hex.EncodeToString(buf)
}

func bmcMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("lab: StartBMC: %v", err)
	}
}

// bmcTail returns the last n lines of a file (best effort, for failure logs).
func bmcTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NetnsKillCommand writes a script under t.TempDir() that simulates a power
// cut of namespace ns (every process of `ip netns pids ns` stopped, then
// killed, until none is left) and returns its argv, for StartBMC's powerOff.
func NetnsKillCommand(t testing.TB, ns string) []string {
	t.Helper()
	ip, err := exec.LookPath("ip")
	bmcMust(t, err)
	path := filepath.Join(t.TempDir(), "power-off-"+ns+".sh")
	script := fmt.Sprintf(`#!/bin/sh
# Power cut of namespace %[1]s: freeze everything first so nothing reacts.
ns=%[1]s
ip=%[2]s
pids=$("$ip" netns pids "$ns") || exit 1
[ -n "$pids" ] && kill -STOP $pids 2>/dev/null
i=0
while [ -n "$pids" ]; do
	kill -KILL $pids 2>/dev/null
	i=$((i+1))
	[ $i -gt 500 ] && { echo "pids survive SIGKILL: $pids"; exit 1; }
	sleep 0.01
	pids=$("$ip" netns pids "$ns") || exit 1
done
exit 0
`, bmcShellQuote(ns), bmcShellQuote(ip))
	bmcMust(t, os.WriteFile(path, []byte(script), 0o700))
	return shScript(path)
}

// shScript is the argv that runs a script the lab just wrote: through sh,
// not exec'd itself, since a child forked meanwhile by another goroutine
// may still hold the file open for writing (exec fails with "text file
// busy", as CI once saw).
func shScript(path string) []string { return []string{"/bin/sh", path} }
