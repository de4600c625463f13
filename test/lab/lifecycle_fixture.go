package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The lifecycle scenario: a plain cluster (no fencing) whose group "web"
// holds the VIP LifecycleVIP and a hello server on LifecyclePort that
// answers with its node's name. The server's stop fails while
// <lab dir>/<node>/stop.fails exists and hangs for a minute while
// <lab dir>/<node>/stop.hangs exists.
const (
	LifecycleVIP   = "198.18.0.110"
	LifecyclePort  = 8080
	LifecycleGroup = "web"
)

// LifecycleGroupHCL is the group, preferring n1 without failback.
func LifecycleGroupHCL(labDir, hello string) string {
	dir := filepath.Join(labDir, "$VIGIL_NODE")
	pid := filepath.Join(dir, "web.pid")
	fails, hangs := filepath.Join(dir, "stop.fails"), filepath.Join(dir, "stop.hangs")
	start := fmt.Sprintf(`setsid %s -listen :%d -body "$VIGIL_NODE" </dev/null >/dev/null 2>&1 & echo $! > %s`,
		hello, LifecyclePort, pid)
	stop := fmt.Sprintf(`if [ -f %[2]s ]; then sleep 60; fi; if [ -f %[3]s ]; then echo stop refused; exit 1; fi; `+
		`if [ -f %[1]s ]; then kill $(cat %[1]s) 2>/dev/null; rm -f %[1]s; fi; exit 0`, pid, hangs, fails)
	status := fmt.Sprintf(`[ -f %[1]s ] && kill -0 $(cat %[1]s) 2>/dev/null || exit 3`, pid)
	return fmt.Sprintf(`group %q {
  prefer   = "n1"
  failback = false

  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }

  resource "exec" "web" {
    start            = %q
    stop             = %q
    status           = %q
    monitor_interval = "1s"
    start_timeout    = "5s"
    stop_timeout     = "30s"
  }
}
`, LifecycleGroup, LifecycleVIP, start, stop, status)
}

// StartLifecycleCluster starts n1, n2 and w with the group and waits until
// the group serves from n1.
func StartLifecycleCluster(l *Lab) *Cluster {
	l.tb.Helper()
	c := StartCluster(l, ClusterSpec{Preset: "fast", Extra: LifecycleGroupHCL(l.dir, HelloBin(l.tb))})
	c.WaitHealthy(30 * time.Second)
	c.SettleOn(LifecycleGroup, "n1", 30*time.Second)
	c.WaitVIPOn(LifecycleVIP, "n1", 30*time.Second)
	return c
}

// VIPHoldersOf lists the resource nodes whose eth0 holds ip now.
func (c *Cluster) VIPHoldersOf(ip string) []string {
	var out []string
	for _, n := range []string{"n1", "n2"} {
		if c.Node(n).Host.HasAddr(ip) {
			out = append(out, n)
		}
	}
	return out
}

// WaitVIPOn waits until node, and only node, holds ip.
func (c *Cluster) WaitVIPOn(ip, node string, timeout time.Duration) {
	c.Lab.tb.Helper()
	c.Eventually(timeout, ip+" on "+node+" only", func() error {
		if h := c.VIPHoldersOf(ip); !slices.Equal(h, []string{node}) {
			return fmt.Errorf("%s holders %v", ip, h)
		}
		return nil
	})
}

// StopFile is <lab dir>/<node>/<name> (stop.fails, stop.hangs).
func (c *Cluster) StopFile(node, name string) string {
	return filepath.Join(c.Lab.dir, node, name)
}

// Touch creates path; Remove deletes it (missing is fine).
func (c *Cluster) Touch(path string) {
	c.Lab.tb.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		c.Lab.tb.Fatalf("lab: %v", err)
	}
}

func (c *Cluster) Remove(path string) {
	c.Lab.tb.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.Lab.tb.Fatalf("lab: %v", err)
	}
}

// ExitCode is the exit status of an exited process (-1: killed by a signal
// or not a normal exit).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// LogSince is the part of p's log after the last occurrence of marker ("" =
// whole log).
func LogSince(p *Proc, marker string) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, marker); marker != "" && i >= 0 {
		s = s[i:]
	}
	return s
}
