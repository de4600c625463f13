// Package lab is a network-namespace test harness: one "switch" namespace
// holding two bridges (pub, the public/VIP link, and hb, the dedicated
// heartbeat link) and one namespace per host, wired with veths whose MAC
// addresses are pinned so that a powered-off and re-created host is reachable
// again at once. It runs real processes in those namespaces, simulates power
// loss, link loss and silent partitions, and cleans everything up afterwards.
//
// Namespace names are "<prefix>-<name>"; prefix and host names are [a-z0-9]+,
// so two labs with different prefixes can never share a namespace. A lock
// file per prefix (/run/vigil-lab/<prefix>.lock, flock) tells a stale
// leftover of a crashed run, which New removes, from a live lab, which makes
// New fail. Addresses come from 198.18.0.0/15 and may repeat between labs:
// the namespaces isolate them.
package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Link names: the bridges in the switch namespace and the host-side devices.
const (
	Pub = "pub" // public link, host device eth0, 198.18.0.0/24
	HB  = "hb"  // heartbeat link, host device eth1, 198.18.1.0/24
)

var namePattern = regexp.MustCompile(`^[a-z0-9]+$`)

// Lab is one isolated network of namespaces.
type Lab struct {
	tb     testing.TB
	prefix string
	dir    string
	sw     string // switch namespace
	lock   *os.File

	mu      sync.Mutex
	hosts   []*Host
	procs   []*Proc
	nftable bool // the partition table exists in the switch namespace
	// switchChain: SwitchDown's chain exists; switchGen counts its outages
	// and heals, so that an outage's end cannot end a later one.
	switchChain bool
	switchGen   int
}

// New creates the switch namespace with the pub and hb bridges and registers
// the cleanup that kills every process and deletes every namespace. It skips
// the test when not root or when `ip netns` is unavailable. VIGIL_LAB_ID, when
// set, is appended to the prefix so that checkouts can run their labs side by
// side on one machine. VIGIL_LAB_KEEP, when set, keeps the lab directory
// (configs, data, every process log) after a passing run too.
func New(tb testing.TB, prefix string) *Lab {
	tb.Helper()
	Require(tb)
	prefix += os.Getenv("VIGIL_LAB_ID")
	if !namePattern.MatchString(prefix) {
		tb.Fatalf("lab: prefix %q must match %s", prefix, namePattern)
	}
	l := &Lab{tb: tb, prefix: prefix, sw: prefix + "-sw"}
	if err := l.acquire(); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	dir, err := os.MkdirTemp("", "vlab-"+prefix+"-")
	if err != nil {
		l.lock.Close()
		tb.Fatalf("lab: %v", err)
	}
	l.dir = dir
	tb.Cleanup(l.cleanup)

	l.must("ip", "netns", "add", l.sw)
	l.must("ip", "-n", l.sw, "link", "set", "lo", "up")
	for _, br := range []string{Pub, HB} {
		// forward_delay 0: ports forward as soon as they are up, which
		// matters for power-on; no STP, a single bridge cannot loop.
		l.must("ip", "-n", l.sw, "link", "add", br, "type", "bridge", "forward_delay", "0", "stp_state", "0")
		l.must("ip", "-n", l.sw, "link", "set", br, "up")
	}
	return l
}

// Require skips tb unless the process is root and `ip netns` works.
func Require(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("lab: network-namespace tests need root")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		tb.Skipf("lab: `ip netns` unavailable: %v: %s", err, bytes.TrimSpace(out))
	}
}

// Dir is the lab's private directory for configs, data and logs. It is removed
// when the test passes and kept (its path logged) when it fails.
func (l *Lab) Dir() string { return l.dir }

// Prefix is the lab's namespace-name prefix.
func (l *Lab) Prefix() string { return l.prefix }

// SwitchNS is the name of the switch namespace holding the bridges.
func (l *Lab) SwitchNS() string { return l.sw }

// TB is the test or benchmark that owns the lab.
func (l *Lab) TB() testing.TB { return l.tb }

// acquire takes the prefix lock and removes stale namespaces of the prefix.
func (l *Lab) acquire() error {
	if err := os.MkdirAll("/run/vigil-lab", 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join("/run/vigil-lab", l.prefix+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("prefix %q is in use by a running lab (choose a unique prefix per test package, no parallel labs with one prefix): %w", l.prefix, err)
	}
	l.lock = f
	// Nobody holds the lock, so any namespace of this prefix is a leftover.
	for _, ns := range listNetns() {
		if strings.HasPrefix(ns, l.prefix+"-") {
			l.tb.Logf("lab: removing stale namespace %s", ns)
			killNetnsPids(ns)
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	return nil
}

func (l *Lab) cleanup() {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	hosts := append([]*Host(nil), l.hosts...)
	l.mu.Unlock()

	for _, p := range procs {
		_ = p.Signal(syscall.SIGKILL)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			l.tb.Logf("lab: %s (pid %d) did not exit after SIGKILL", p.Name, p.Pid)
		}
	}
	// Children the test did not start itself (forked by its processes).
	for _, h := range hosts {
		killNetnsPids(h.ns)
	}
	if l.tb.Failed() {
		dumped := map[string]bool{}
		for _, p := range procs {
			if dumped[p.Log] { // a restarted process appends to one log
				continue
			}
			dumped[p.Log] = true
			l.tb.Logf("lab: ---- log of %s (pid %d, %s) ----\n%s", p.Name, p.Pid, p.Log, tail(p.Log, 120))
		}
	}
	for _, h := range hosts {
		if out, err := exec.Command("ip", "netns", "del", h.ns).CombinedOutput(); err != nil {
			l.tb.Logf("lab: delete %s: %v: %s", h.ns, err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", l.sw).CombinedOutput(); err != nil {
		l.tb.Logf("lab: delete %s: %v: %s", l.sw, err, out)
	}
	l.lock.Close()
	if l.tb.Failed() || os.Getenv("VIGIL_LAB_KEEP") != "" {
		l.tb.Logf("lab: kept %s for inspection", l.dir)
		return
	}
	os.RemoveAll(l.dir)
}

// must runs a setup command in the root namespace and fails the test on error.
func (l *Lab) must(argv ...string) string {
	l.tb.Helper()
	out, err := run(argv...)
	if err != nil {
		l.tb.Fatalf("lab: %v", err)
	}
	return out
}

// run runs argv to completion (30 s at most) and returns its combined output.
func run(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func listNetns() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// netnsPids lists the pids living in namespace ns.
func netnsPids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() && !harnessProbe(pid) && !dead(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// harnessProbe reports whether pid is one of the harness's own short-lived
// `ip -n NS ...` commands (a holder sampler reading addresses), which enter
// a namespace for a moment but are not the host's processes. Processes the
// harness starts in a host run `ip netns exec`, which execs the program, so
// they never keep the name "ip".
func harnessProbe(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ppid ...
	s := string(stat)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return false
	}
	var state string
	var ppid int
	if _, err := fmt.Sscan(s[close+1:], &state, &ppid); err != nil {
		return false
	}
	return s[open+1:close] == "ip" && ppid == os.Getpid()
}

// dead reports whether pid has exited and only waits to be reaped (a zombie,
// or on its way to one): on this machine PID 1 may never reap orphans, and
// such a process holds no socket or address any more.
func dead(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	switch s[i+2] {
	case 'Z', 'X', 'x':
		return true
	}
	return false
}

// freezeNetnsPids sends SIGSTOP to every process of ns until a listing finds
// no process it has not stopped yet (one may fork while the first is
// being stopped).
func freezeNetnsPids(ns string) {
	stopped := map[int]bool{}
	for range 50 {
		fresh := false
		for _, pid := range netnsPids(ns) {
			if !stopped[pid] {
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				stopped[pid], fresh = true, true
			}
		}
		if !fresh {
			return
		}
	}
}

// killNetnsPids freezes every process of ns first, so that none of them can
// react (fork, write, send) to the others dying, then kills them, and waits
// (up to 10 s) until the namespace is empty.
func killNetnsPids(ns string) {
	pids := netnsPids(ns)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	deadline := time.Now().Add(10 * time.Second) // exiting takes a while on a loaded machine
	for len(pids) > 0 && time.Now().Before(deadline) {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
		pids = netnsPids(ns)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines cut]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
