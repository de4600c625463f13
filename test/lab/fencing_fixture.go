package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// The fenced scenario: resource nodes n1 and n2 and the witness w, plus one
// simulated BMC per resource node (host "bmc<i>", ipmi_sim listening on its
// heartbeat-link address). A BMC's power-off is a real power cut of its
// node: every process of the node's namespace is killed and its veths are
// deleted, VIP included. The group "vip" holds the VIP and a trivial exec
// service, prefers n1 and does not fail back.
const (
	FenceVIP   = "198.18.0.100"
	FenceGroup = "vip"
)

// FenceDevice chooses how vigil reaches a node's BMC.
type FenceDevice string

const (
	// FenceIPMI is vigil's built-in ipmi device (bmclib + ipmitool).
	FenceIPMI FenceDevice = "ipmi"
	// FenceIpmilan is Debian's fence_ipmilan run as an exec device.
	FenceIpmilan FenceDevice = "ipmilan"
)

// FenceSpec describes a fenced lab cluster.
type FenceSpec struct {
	// Devices per resource node (n1, n2); default FenceIPMI.
	Devices map[string]FenceDevice
	// Delays per node: fence_delay and fence_delay_max ("" = unset).
	Delay, DelayMax map[string]string
	// LogLevel of the agents; default debug.
	LogLevel string
	// WrongPassword gives these nodes' devices WrongBMCPassword instead of
	// their BMC's password.
	WrongPassword map[string]bool
	// MonitorInterval is the devices' monitor_interval ("" = default).
	MonitorInterval string
	// Action is the devices' action ("" = default, off).
	Action string
	// TwoNode: no witness, `two_node = true`.
	TwoNode bool
	// ClusterExtra is HCL lines inside the cluster block (wait_for_all,
	// tuning...).
	ClusterExtra string
	// Preset is the timing preset; default fast.
	Preset string
	// Group is the HCL of the cluster's group instead of FenceGroupHCL's
	// (it must hold FenceVIP; StartFencedCluster settles FenceGroup).
	Group string
}

// WrongBMCPassword is the password of a device with FenceSpec.WrongPassword.
const WrongBMCPassword = "Wr0ng-lab-pw-7781"

// FencedCluster is a lab cluster whose resource nodes have BMCs.
type FencedCluster struct {
	*Cluster
	BMCs     map[string]*BMC  // by node name
	BMCHosts map[string]*Host // the BMCs' namespaces, by node name

	powerCut map[string][]string // the BMCs' power-off programs, by node name
}

// bmcAddrs are the BMC hosts' pub and hb addresses, per resource node.
var bmcAddrs = map[string][2]string{
	"n1": {"198.18.0.201", "198.18.1.201"},
	"n2": {"198.18.0.202", "198.18.1.202"},
}

// StartFencedCluster starts the BMCs, then the cluster with one fence device
// per resource node, and waits until it is healthy with the group started
// on n1.
func StartFencedCluster(l *Lab, spec FenceSpec) *FencedCluster {
	l.tb.Helper()
	fc := PrepareFencedCluster(l, spec)
	for _, n := range fc.Nodes {
		fc.Start(n.Name)
	}
	fc.WaitHealthy(30 * time.Second)
	fc.SettleOn(FenceGroup, "n1", 30*time.Second)
	fc.WaitVIP("n1", 30*time.Second)
	return fc
}

// PrepareFencedCluster starts the BMCs and writes the configs; no agent runs.
func PrepareFencedCluster(l *Lab, spec FenceSpec) *FencedCluster {
	tb := l.tb
	tb.Helper()
	for _, bin := range []string{"ipmi_sim", "ipmitool"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("lab: %s not found (Debian packages openipmi, ipmitool): %v", bin, err)
		}
	}
	fc := &FencedCluster{BMCs: map[string]*BMC{}, BMCHosts: map[string]*Host{}, powerCut: map[string][]string{}}
	var devs strings.Builder
	for i, node := range []string{"n1", "n2"} {
		addr := bmcAddrs[node]
		h := l.AddHost(fmt.Sprintf("bmc%d", i+1), addr[0], addr[1])
		fc.powerCut[node] = powerCutCommand(l, node)
		bmc := StartBMC(tb, h.NS(), addr[1], fc.powerCut[node], nil)
		fc.BMCs[node], fc.BMCHosts[node] = bmc, h
		pwFile := filepath.Join(l.dir, node+"-bmc.pw")
		pw := bmc.Password
		if spec.WrongPassword[node] {
			pw = WrongBMCPassword
		}
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			tb.Fatalf("lab: %v", err)
		}
		dev := fenceDeviceHCL(node, spec.Devices[node], bmc, pwFile)
		if spec.MonitorInterval != "" {
			dev = strings.Replace(dev, "  retries ", fmt.Sprintf("  monitor_interval = %q\n  retries ", spec.MonitorInterval), 1)
		}
		if spec.Action != "" {
			dev = strings.Replace(dev, "  retries ", fmt.Sprintf("  action = %q\n  retries ", spec.Action), 1)
		}
		devs.WriteString(dev)
	}
	level := spec.LogLevel
	if level == "" {
		level = "debug"
	}
	group := spec.Group
	if group == "" {
		group = FenceGroupHCL(l.dir)
	}
	extra := devs.String() + group
	fc.Cluster = prepareCluster(l, ClusterSpec{Preset: spec.Preset, LogLevel: level, Extra: extra,
		TwoNode: spec.TwoNode, ClusterExtra: spec.ClusterExtra}, Vigil(tb))
	for _, n := range fc.Nodes {
		cfg, err := os.ReadFile(n.Config)
		if err != nil {
			tb.Fatalf("lab: %v", err)
		}
		out := string(cfg)
		for _, node := range []string{"n1", "n2"} {
			out = addNodeKeys(tb, out, node, fenceNodeKeys(node, spec))
		}
		if err := os.WriteFile(n.Config, []byte(out), 0o600); err != nil {
			tb.Fatalf("lab: %v", err)
		}
	}
	return fc
}

// powerCutCommand writes the BMC's power-off program for node, silent and
// sudden like a real power loss (Host.PowerOff): delete its veths, both in
// one batch (which takes its addresses, the VIP, with them), then freeze and
// kill every process of the node's namespace (NetnsKillCommand), whose dying
// sockets can no longer reach anyone. Links already gone (the lab cut the
// power first) are not an error.
func powerCutCommand(l *Lab, node string) []string {
	tb := l.tb
	tb.Helper()
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	ns := l.prefix + "-" + node
	kill := NetnsKillCommand(tb, ns)
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# Power cut of lab node %s.\n", node)
	// A cut and a power-on of the same node never interleave (a fence that
	// lands while the lab powers the node on would freeze the lab's own
	// `ip -n` commands and delete the links it just made).
	fmt.Fprintf(&b, "exec 9>%s\nflock 9 || exit 1\n", bmcShellQuote(powerLockPath(l, node)))
	// The cables first, both in one netlink batch (Host.PowerOff): the
	// node's kernel stops answering at once, as in a real power cut. A link
	// already gone (a second cut) is no error; one still there after is.
	fmt.Fprintf(&b, "printf 'link del %%s\\n' %s %s | %s -n %s -force -batch - >/dev/null 2>&1\n",
		bmcShellQuote(node+"-"+Pub), bmcShellQuote(node+"-"+HB), bmcShellQuote(ipBin), bmcShellQuote(l.sw))
	for _, link := range []string{Pub, HB} {
		fmt.Fprintf(&b, "%s -n %s link show dev %s >/dev/null 2>&1 && exit 1\n",
			bmcShellQuote(ipBin), bmcShellQuote(l.sw), bmcShellQuote(node+"-"+link))
	}
	// Two passes catch a child forked while the first was being frozen.
	for range 2 {
		fmt.Fprintf(&b, "pids=$(%s netns pids %s) || exit 1\n[ -n \"$pids\" ] && kill -STOP $pids 2>/dev/null\n",
			bmcShellQuote(ipBin), bmcShellQuote(ns))
	}
	fmt.Fprintf(&b, "%s || exit 1\n", bmcShellJoin(kill))
	b.WriteString("exit 0\n")
	path := filepath.Join(tb.TempDir(), "power-cut-"+node+".sh")
	if err := os.WriteFile(path, []byte(b.String()), 0o700); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	return shScript(path)
}

// fenceDeviceHCL is node's fence device block, named "<node>-bmc".
func fenceDeviceHCL(node string, dev FenceDevice, bmc *BMC, pwFile string) string {
	if dev == FenceIpmilan {
		return fmt.Sprintf(`fence "exec" "%s-bmc" {
  agent         = "/usr/sbin/fence_ipmilan"
  params        = { ip = %q, ipport = "%d", username = %q, lanplus = "1", cipher = %q }
  password_file = %q
  timeout       = "15s"
  retries       = 1
}

`, node, bmc.Addr, bmc.Port, bmc.User, bmc.CipherSuite, pwFile)
	}
	return fmt.Sprintf(`fence "ipmi" "%s-bmc" {
  host          = %q
  port          = %d
  username      = %q
  password_file = %q
  cipher_suite  = %q
  timeout       = "3s"
  retries       = 1
}

`, node, bmc.Addr, bmc.Port, bmc.User, pwFile, bmc.CipherSuite)
}

func fenceNodeKeys(node string, spec FenceSpec) string {
	keys := fmt.Sprintf("  fence     = [\"%s-bmc\"]\n", node)
	if d := spec.Delay[node]; d != "" {
		keys += fmt.Sprintf("  fence_delay = %q\n", d)
	}
	if d := spec.DelayMax[node]; d != "" {
		keys += fmt.Sprintf("  fence_delay_max = %q\n", d)
	}
	return keys
}

// addNodeKeys inserts keys into the `node "NAME" {` block of an HCL config.
func addNodeKeys(tb interface{ Fatalf(string, ...any) }, cfg, node, keys string) string {
	head := fmt.Sprintf("node %q {\n", node)
	i := strings.Index(cfg, head)
	if i < 0 {
		tb.Fatalf("lab: config has no %q block:\n%s", strings.TrimSpace(head), cfg)
	}
	i += len(head)
	return cfg[:i] + keys + cfg[i:]
}

// FenceGroupHCL is the group: the VIP on eth0, then a stand-in service (a
// sleep whose pid file lives in <lab dir>/<node>/; it dies with its node).
// Its stop fails while the file StopFailsFile(node) exists.
func FenceGroupHCL(labDir string) string {
	pid := filepath.Join(labDir, "$VIGIL_NODE", "svc.pid")
	stuck := filepath.Join(labDir, "$VIGIL_NODE", "stop.fails")
	start := fmt.Sprintf(`setsid sleep 1000000 </dev/null >/dev/null 2>&1 & echo $! > %s`, pid)
	stop := fmt.Sprintf(`if [ -f %[2]s ]; then echo stop refused; exit 1; fi; if [ -f %[1]s ]; then kill $(cat %[1]s) 2>/dev/null; rm -f %[1]s; fi; exit 0`, pid, stuck)
	// Not fooled by a zombie: PID 1 of this machine may never reap the
	// orphans of a power cut, and kill -0 succeeds on one.
	status := fmt.Sprintf(`[ -f %[1]s ] && p=$(cat %[1]s) && kill -0 $p 2>/dev/null && `+
		`! grep -q ') Z' /proc/$p/stat 2>/dev/null || exit 3`, pid)
	return fmt.Sprintf(`group %q {
  prefer   = "n1"
  failback = false

  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }

  resource "exec" "svc" {
    start            = %q
    stop             = %q
    status           = %q
    monitor_interval = "1s"
    start_timeout    = "5s"
    stop_timeout     = "5s"
  }
}
`, FenceGroup, FenceVIP, start, stop, status)
}

// StopFailsFile makes the service's stop fail on node while it exists.
func (fc *FencedCluster) StopFailsFile(node string) string {
	return filepath.Join(fc.Lab.dir, node, "stop.fails")
}

// Other is the other resource node.
func Other(node string) string {
	if node == "n1" {
		return "n2"
	}
	return "n1"
}

// VIPHolders lists the resource nodes whose eth0 holds the VIP now.
func (fc *FencedCluster) VIPHolders() []string {
	var out []string
	for _, n := range []string{"n1", "n2"} {
		if fc.Node(n).Host.HasAddr(FenceVIP) {
			out = append(out, n)
		}
	}
	return out
}

// WaitVIP waits until node, and only node, holds the VIP.
func (fc *FencedCluster) WaitVIP(node string, timeout time.Duration) {
	fc.Lab.tb.Helper()
	fc.Eventually(timeout, "VIP on "+node+" only", func() error {
		if h := fc.VIPHolders(); !slices.Equal(h, []string{node}) {
			return fmt.Errorf("VIP holders %v", h)
		}
		return nil
	})
}

// Active is the resource node holding the VIP (fails unless exactly one).
func (fc *FencedCluster) Active() string {
	fc.Lab.tb.Helper()
	h := fc.VIPHolders()
	if len(h) != 1 {
		fc.Lab.tb.Fatalf("lab: VIP holders %v, want exactly one", h)
	}
	return h[0]
}

// CutPower pulls node's plug without telling its BMC (which still reads
// on): the same program the BMC runs, so every process of the namespace dies
// and its links go. Host.PowerOff is not used because it fails when it finds
// a pid right after the kill, and the holder sampler's `ip -n` calls enter
// the namespace for an instant all the time; the program retries instead.
func (fc *FencedCluster) CutPower(node string) {
	tb := fc.Lab.tb
	tb.Helper()
	if out, err := run(fc.powerCut[node]...); err != nil {
		tb.Fatalf("lab: power cut of %s: %v\n%s", node, err, out)
	}
	if p := fc.Agent(node); p != nil {
		if err := p.WaitTimeout(5 * time.Second); err == nil {
			tb.Logf("lab: agent %s exited cleanly on power cut", node)
		}
	}
}

// PowerOnNode restores a powered-off or fenced node: the BMC reads on
// again, links come back and the agent starts with its old data_dir.
func (fc *FencedCluster) PowerOnNode(node string) {
	fc.Lab.tb.Helper()
	unlock := lockPower(fc.Lab, node)
	defer unlock()
	if err := fc.BMCs[node].SetPower(true); err != nil {
		fc.Lab.tb.Fatalf("lab: %v", err)
	}
	fc.PowerOn(node)
}

// powerLockPath is the lock a node's power cut and power-on both hold.
func powerLockPath(l *Lab, node string) string {
	return filepath.Join(l.dir, "power-"+node+".lock")
}

// lockPower takes node's power lock (waiting for a cut in progress to end)
// and returns its release.
func lockPower(l *Lab, node string) func() {
	l.tb.Helper()
	f, err := os.OpenFile(powerLockPath(l, node), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		l.tb.Fatalf("lab: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		l.tb.Fatalf("lab: lock %s: %v", f.Name(), err)
	}
	return func() { f.Close() }
}

// PoweredOff reports whether node's agent is dead and its links (with every
// address on them) are gone. Namespace pids are not counted: the sampler's
// `ip -n` runs inside the namespace for an instant.
func (fc *FencedCluster) PoweredOff(node string) bool {
	n := fc.Node(node)
	if n.proc != nil && !n.proc.Exited() {
		return false
	}
	addrs, err := n.Host.Addrs()
	return err == nil && !hasAddr(addrs, n.Host.IP(Pub)) && !hasAddr(addrs, n.Host.IP(HB))
}

// ArrangeLeaderOnStandby makes the leader the resource node that does not
// hold the VIP. It returns the leader and the active node.
func (fc *FencedCluster) ArrangeLeaderOnStandby(timeout time.Duration) (leader, active string) {
	fc.Lab.tb.Helper()
	return fc.arrangeLeader(false, timeout)
}

// ArrangeLeaderOnActive makes the leader the resource node holding the VIP.
func (fc *FencedCluster) ArrangeLeaderOnActive(timeout time.Duration) (leader string) {
	fc.Lab.tb.Helper()
	leader, _ = fc.arrangeLeader(true, timeout)
	return leader
}

// arrangeLeader restarts a witness leader (a new election) and moves the
// VIP to or away from a resource-node leader (standby, then online: no
// failback) until the leader holds the VIP (onActive) or does not.
func (fc *FencedCluster) arrangeLeader(onActive bool, timeout time.Duration) (leader, active string) {
	tb := fc.Lab.tb
	tb.Helper()
	for range 10 {
		leader = fc.WaitHealthy(timeout)
		active = fc.Active()
		if leader == "w" {
			fc.Restart(leader)
			continue
		}
		if (leader == active) == onActive {
			return leader, active
		}
		for _, cmd := range []string{"standby", "online"} {
			if out, err := fc.CLI("w", "node", cmd, active); err != nil {
				tb.Fatalf("lab: %v\n%s", err, out)
			}
			if cmd == "standby" {
				fc.WaitVIP(Other(active), timeout)
			}
		}
	}
	tb.Fatalf("lab: could not arrange the leader (on the active node: %v): leader %s, VIP on %s", onActive, leader, active)
	return "", ""
}

// FenceRecords are st's fencing records for target with result ("" = any).
func FenceRecords(st api.Status, target, result string) []api.FenceRecord {
	var out []api.FenceRecord
	for _, f := range st.Fencing {
		if f.Target == target && (result == "" || f.Result == result) {
			out = append(out, f)
		}
	}
	return out
}

// GroupOf finds a group in a status.
func GroupOf(st api.Status, name string) (api.GroupStatus, bool) {
	for _, g := range st.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return api.GroupStatus{}, false
}
