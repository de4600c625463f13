package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The web scenario: load balancers n1 and n2 (a vigil cluster with witness w)
// run haproxy behind the VIP WebVIP, in front of backends b1 and b2, exactly
// as examples/haproxy-pair describes; a second group serves ApacheVIP with
// apache through the OCF agent (examples/apache-ocf).
const (
	WebVIP      = "198.18.0.100" // haproxy's VIP (group "web")
	ApacheVIP   = "198.18.0.101" // apache's VIP (group "www")
	BackendPort = 8080
)

// WebBackends are the backend hosts on pub: name and address. The
// example's haproxy.cfg names the same addresses.
var WebBackends = []struct{ Name, IP string }{{"b1", "198.18.0.21"}, {"b2", "198.18.0.22"}}

// StartWebBackends adds the backend hosts and runs the hello server on each,
// answering every request with the backend's name.
func StartWebBackends(l *Lab) []*Host {
	l.tb.Helper()
	var hosts []*Host
	for _, b := range WebBackends {
		h := l.AddClient(b.Name, b.IP)
		h.Start("hello", HelloBin(l.tb), "-listen", fmt.Sprintf(":%d", BackendPort), "-body", b.Name)
		hosts = append(hosts, h)
	}
	return hosts
}

// ExampleDir is <module root>/examples/<name>.
func ExampleDir(tb testing.TB, name string) string {
	tb.Helper()
	root, err := ModuleRoot()
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	return filepath.Join(root, "examples", name)
}

// EnableNonlocalBind lets the host bind addresses it does not hold (haproxy
// and apache listen on their VIP). The sysctl is per network namespace.
func EnableNonlocalBind(h *Host) {
	h.lab.tb.Helper()
	if out, err := h.Run("sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"); err != nil {
		h.lab.tb.Fatalf("lab: %v: %s", err, out)
	}
}

// haproxyFile is a per-node haproxy file (pid file, output log) under the
// node's lab directory; with node "$VIGIL_NODE" it is the shell form the
// exec resource's commands expand on whichever node runs them.
func haproxyFile(labDir, node, name string) string {
	return filepath.Join(labDir, node, "haproxy."+name)
}

// WebGroupHCL is the "web" group of examples/haproxy-pair/vigil.hcl for the
// lab: the VIP, then haproxy run by the example's haproxy-ctl with the
// example's haproxy.cfg. Monitors run often so that tests are quick.
func WebGroupHCL(tb testing.TB, labDir, prefer string, migrationThreshold int) string {
	tb.Helper()
	ex := ExampleDir(tb, "haproxy-pair")
	ctl := func(op string) string {
		return fmt.Sprintf("HAPROXY_PID=%s HAPROXY_LOG=%s %s %s",
			haproxyFile(labDir, "$VIGIL_NODE", "pid"), haproxyFile(labDir, "$VIGIL_NODE", "log"),
			filepath.Join(ex, "haproxy-ctl"), op)
	}
	return fmt.Sprintf(`group "web" {
  prefer              = %q
  failback            = false
  migration_threshold = %d

  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }

  resource "exec" "haproxy" {
    start            = %q
    stop             = %q
    status           = %q
    env              = { HAPROXY_CFG = %q }
    monitor_interval = "500ms"
    start_timeout    = "10s"
    stop_timeout     = "10s"
  }
}
`, prefer, migrationThreshold, WebVIP, ctl("start"), ctl("stop"), ctl("status"), filepath.Join(ex, "haproxy.cfg"))
}

// HAProxyPid is the pid of the haproxy that node's haproxy-ctl runs, or 0
// when its pid file is absent or names no live haproxy.
func HAProxyPid(labDir, node string) int {
	b, err := os.ReadFile(haproxyFile(labDir, node, "pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "haproxy" {
		return 0
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if _, rest, ok := strings.Cut(string(st), ") "); ok && strings.HasPrefix(rest, "Z") {
			return 0 // a zombie is dead
		}
	}
	return pid
}

// KillHAProxy kills node's haproxy with SIGKILL (a crash) and returns the
// pid it killed; it fails the test when none runs.
func KillHAProxy(tb testing.TB, labDir, node string) int {
	tb.Helper()
	pid := HAProxyPid(labDir, node)
	if pid == 0 {
		tb.Fatalf("lab: no haproxy runs on %s", node)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		tb.Fatalf("lab: kill haproxy %d on %s: %v", pid, node, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for HAProxyPid(labDir, node) == pid && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return pid
}

// ApacheGroupHCL is the "www" group of examples/apache-ocf for the lab: a
// VIP, then apache through ocf:heartbeat:apache with the config that
// WriteApacheConfig writes.
func ApacheGroupHCL(labDir, prefer string) string {
	return fmt.Sprintf(`group "www" {
  prefer   = %q
  failback = false

  resource "ipaddr" "wwwvip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }

  resource "ocf" "apache" {
    agent            = "heartbeat:apache"
    params           = { configfile = %q, statusurl = "http://127.0.0.1/ok.html", testregex = "apache-ok" }
    monitor_interval = "1s"
    start_timeout    = "20s"
    stop_timeout     = "20s"
  }
}
`, prefer, ApacheVIP, filepath.Join(labDir, "apache.conf"))
}

// apacheConf is one config for every node. The lab's hosts share one file
// system, so everything per node (pid file, runtime dir, document root) hangs
// off HA_RSCTMP, which vigil's OCF runner sets to <data_dir>/run/rsctmp: the
// agent expands it when it reads PidFile (an eval), apache when it parses.
// On real machines the stock /etc/apache2/apache2.conf does (see
// examples/apache-ocf).
const apacheConf = `ServerRoot "/etc/apache2"
ServerName localhost
PidFile ${HA_RSCTMP}/apache.pid
DefaultRuntimeDir ${HA_RSCTMP}
Mutex file:${HA_RSCTMP}
ErrorLog ${HA_RSCTMP}/error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
Listen 127.0.0.1:80
Listen %s:80
DocumentRoot "${HA_RSCTMP}/../../../www"
DirectoryIndex index.html
<Directory />
  Require all granted
</Directory>
`

// WriteApacheConfig writes <lab dir>/apache.conf and, for each named node,
// <lab dir>/<node>/www with index.html ("apache <node>") and ok.html (the
// monitor's status page). Call it before StartCluster, so that apache finds
// them however early its group starts.
func WriteApacheConfig(l *Lab, nodes ...string) {
	tb := l.tb
	tb.Helper()
	if err := os.WriteFile(filepath.Join(l.dir, "apache.conf"), fmt.Appendf(nil, apacheConf, ApacheVIP), 0o644); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	for _, n := range nodes {
		www := filepath.Join(l.dir, n, "www")
		if err := os.MkdirAll(www, 0o755); err != nil {
			tb.Fatalf("lab: %v", err)
		}
		for name, body := range map[string]string{"index.html": "apache " + n + "\n", "ok.html": "apache-ok\n"} {
			if err := os.WriteFile(filepath.Join(www, name), []byte(body), 0o644); err != nil {
				tb.Fatalf("lab: %v", err)
			}
		}
	}
}

// CheckApacheLayout fails the test unless every node's directory is
// <lab dir>/<node> and its data_dir <node dir>/data: apache.conf finds the
// document root three levels above HA_RSCTMP (<data_dir>/run/rsctmp).
func CheckApacheLayout(c *Cluster) {
	tb := c.Lab.tb
	tb.Helper()
	for _, n := range c.Nodes {
		if n.Dir != filepath.Join(c.Lab.dir, n.Name) || n.DataDir != filepath.Join(n.Dir, "data") {
			tb.Fatalf("lab: node %s: dir %s data_dir %s; apache.conf assumes <lab dir>/%s/data", n.Name, n.Dir, n.DataDir, n.Name)
		}
	}
}

// LBProbeBin is the built client (test/lab/cmd/probe), used with -header.
func LBProbeBin(tb testing.TB) string {
	tb.Helper()
	return Build(tb, "./test/lab/cmd/probe")
}

// StartLBProbe runs the probe (with -header) in h against url every 10 ms with a 20 ms
// timeout. With header "" a sample's Body is the body's first line;
// otherwise it is "<header value> <first body line>" (see AnsweredBy).
func (h *Host) StartLBProbe(name, url, header string) *Proc {
	h.lab.tb.Helper()
	return h.Start(name, LBProbeBin(h.lab.tb), "-url", url, "-header", header, "-interval", "10ms", "-timeout", "20ms")
}

// AnsweredBy is the first word of a successful sample's body (the X-LB
// header for the probe run with -header, the body's first word otherwise), or ""
// for an error.
func AnsweredBy(s Sample) string {
	if !s.OK {
		return ""
	}
	w, _, _ := strings.Cut(s.Body, " ")
	return w
}

// Switch is the client-observed gap of a move from one answering node to
// another: the last successful answer from old before the first from new.
// ok is false when either was never seen in that order.
func Switch(samples []Sample, answeredBy func(Sample) string, old, new string) (gap time.Duration, ok bool) {
	first := -1
	for i, s := range samples {
		if answeredBy(s) == new {
			first = i
			break
		}
	}
	if first < 0 {
		return 0, false
	}
	for i := first - 1; i >= 0; i-- {
		if answeredBy(samples[i]) == old {
			return samples[first].Time.Sub(samples[i].Time), true
		}
	}
	return 0, false
}

// StartHAProxy starts the example's haproxy on a node outside any cluster
// manager, bound to WebVIP through ip_nonlocal_bind whether or not the node
// holds it: the way a keepalived pair runs it, where only the VIP moves.
func StartHAProxy(l *Lab, h *Host, name string) {
	l.tb.Helper()
	EnableNonlocalBind(h)
	ex := ExampleDir(l.tb, "haproxy-pair")
	out, err := h.Run("env", "VIGIL_NODE="+name,
		"HAPROXY_CFG="+filepath.Join(ex, "haproxy.cfg"),
		"HAPROXY_PID="+haproxyFile(l.dir, name, "pid"),
		"HAPROXY_LOG="+haproxyFile(l.dir, name, "log"),
		filepath.Join(ex, "haproxy-ctl"), "start")
	if err != nil {
		l.tb.Fatalf("lab: haproxy on %s: %v: %s", name, err, out)
	}
}

// VIPGroupHCL is a group "web" with WebVIP alone: haproxy runs on both
// nodes (StartHAProxy), as with keepalived.
func VIPGroupHCL(prefer string) string {
	return fmt.Sprintf(`group "web" {
  prefer   = %q
  failback = false

  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }
}
`, prefer, WebVIP)
}
