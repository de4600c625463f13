package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// The health scenario: load balancers n1 and n2 (plus witness w) each run
// haproxy on *:8080 in front of their OWN backend, a hello server on
// 127.0.0.1:9000 inside the same namespace that answers with the node's
// name. So one LB's backends can be broken alone, and haproxy then answers
// 503 there. Group "web" holds the VIP HealthVIP and haproxy (an exec
// resource); its http check asks the local haproxy on 127.0.0.1:8080, which
// works on the standby too, so both LBs report health. A client host probes
// http://HealthVIP:8080/ and sees which LB answered.
//
// haproxy runs on both LBs all the time, like a Pacemaker clone: the
// standby's check can only say "I could take over" if its haproxy answers.
// The exec resource therefore starts haproxy where the VIP goes (a crashed
// one is restarted by the resource's monitor) and its stop leaves it running.
const (
	HealthVIP      = "198.18.0.100"
	HealthPort     = 8080 // haproxy's frontend on every LB
	HealthClientIP = "198.18.0.50"
	healthBackend  = "127.0.0.1:9000" // each LB's own backend
	healthGroup    = "web"
	healthCheck    = "site"
)

// HealthSpec tunes the scenario's group and check.
type HealthSpec struct {
	Interval        time.Duration // check interval; default 300ms
	Rise, Fall      int           // default 2 and 3
	MinMoveInterval time.Duration // group min_move_interval; 0 means none
	LogLevel        string        // agent log level; default debug
}

// HealthLab is the running scenario.
type HealthLab struct {
	*Cluster
	Health   HealthSpec
	Client   *Host
	backends map[string]*Proc // LB -> its hello backend (nil while broken)
}

// healthCtl is the exec resource's script: haproxy per LB, one pid file per
// node directory ($HLAB_DIR/$VIGIL_NODE), LSB status codes.
const healthCtl = `#!/bin/sh
set -u
PIDFILE="$HLAB_DIR/$VIGIL_NODE/haproxy.pid"
running() {
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	[ "$(cat /proc/"$pid"/comm 2>/dev/null)" = haproxy ] || return 1
	state=$(sed 's/.*) //' /proc/"$pid"/stat 2>/dev/null | cut -c1)
	[ -n "$state" ] && [ "$state" != Z ]
}
case "${1:-}" in
start)
	running && exit 0
	exec /usr/sbin/haproxy -D -f "$HLAB_DIR/haproxy.cfg" -p "$PIDFILE" </dev/null >>"$HLAB_DIR/$VIGIL_NODE/haproxy.log" 2>&1
	;;
stop)
	# haproxy stays up on the standby: its health check probes it.
	exit 0
	;;
status)
	running && exit 0
	exit 3
	;;
esac
echo "usage: $0 start|stop|status" >&2
exit 2
`

// healthHAProxy forwards to the local backend with no retries and no
// server checks of its own, so it answers 503 exactly while the backend is
// down, and 200 again as soon as it is back.
const healthHAProxy = `global
    maxconn 512
defaults
    mode http
    timeout connect 200ms
    timeout client  5s
    timeout server  5s
    retries 0
frontend site
    bind *:%d
    default_backend local
backend local
    server app %s
`

// StartHealthLab builds the scenario in a new lab with the given prefix:
// cluster n1, n2, w (timing fast), haproxy and a backend on each LB, and a
// client host. It returns once the cluster is healthy, the group runs on n1,
// both LBs' checks are healthy and the VIP answers from n1.
func StartHealthLab(tb testing.TB, prefix string, spec HealthSpec) *HealthLab {
	tb.Helper()
	if spec.Interval == 0 {
		spec.Interval = 300 * time.Millisecond
	}
	if spec.Rise == 0 {
		spec.Rise = 2
	}
	if spec.Fall == 0 {
		spec.Fall = 3
	}
	l := New(tb, prefix)
	for name, body := range map[string]string{
		"hctl":        healthCtl,
		"haproxy.cfg": fmt.Sprintf(healthHAProxy, HealthPort, healthBackend),
	} {
		if err := os.WriteFile(filepath.Join(l.Dir(), name), []byte(body), 0o755); err != nil {
			tb.Fatalf("lab: %v", err)
		}
	}
	c := prepareCluster(l, ClusterSpec{Preset: "fast", LogLevel: spec.LogLevel, Extra: healthGroupHCL(l.Dir(), spec)}, Vigil(tb))
	h := &HealthLab{Cluster: c, Health: spec, Client: l.AddClient("client", HealthClientIP), backends: map[string]*Proc{}}
	for _, lb := range h.LBs() {
		h.FixBackend(lb)
		// haproxy comes up with the machine (systemd, on a real LB).
		if out, err := c.Node(lb).Host.Run("env", "HLAB_DIR="+l.Dir(), "VIGIL_NODE="+lb, filepath.Join(l.Dir(), "hctl"), "start"); err != nil {
			tb.Fatalf("lab: start haproxy on %s: %v: %s", lb, err, out)
		}
	}
	for _, n := range c.Nodes {
		c.Start(n.Name)
	}
	c.WaitHealthy(30 * time.Second)
	h.WaitGroupOn("n1", 30*time.Second)
	for _, lb := range h.LBs() {
		h.WaitCheck(lb, "healthy", 30*time.Second)
	}
	c.Eventually(10*time.Second, "the VIP answers from n1", func() error {
		out, err := h.Client.Run("curl", "-sS", "--max-time", "1", h.URL())
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(out); got != "n1" {
			return fmt.Errorf("answered %q", got)
		}
		return nil
	})
	return h
}

func healthGroupHCL(dir string, spec HealthSpec) string {
	ctl := filepath.Join(dir, "hctl")
	return fmt.Sprintf(`group %q {
  prefer            = "n1"
  failback          = false
  min_move_interval = %q

  resource "ipaddr" "vip" {
    address          = "%s/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }

  resource "exec" "haproxy" {
    start            = "%s start"
    stop             = "%s stop"
    status           = "%s status"
    env              = { HLAB_DIR = %q }
    monitor_interval = "1s"
  }

  check "http" %q {
    url      = "http://127.0.0.1:%d/"
    interval = %q
    timeout  = %q
    rise     = %d
    fall     = %d
  }
}
`, healthGroup, spec.MinMoveInterval.String(), HealthVIP, ctl, ctl, ctl, dir,
		healthCheck, HealthPort, spec.Interval.String(), (spec.Interval * 2 / 3).String(), spec.Rise, spec.Fall)
}

// LBs are the resource nodes.
func (h *HealthLab) LBs() []string { return []string{"n1", "n2"} }

// Other is the LB that is not lb.
func (h *HealthLab) Other(lb string) string {
	if lb == "n1" {
		return "n2"
	}
	return "n1"
}

// URL is what the client asks: haproxy behind the VIP.
func (h *HealthLab) URL() string { return fmt.Sprintf("http://%s:%d/", HealthVIP, HealthPort) }

// BreakBackend kills lb's backend: its haproxy answers 503 from now on.
func (h *HealthLab) BreakBackend(lb string) {
	h.Lab.tb.Helper()
	p := h.backends[lb]
	if p == nil {
		return
	}
	if err := p.Kill(); err != nil {
		h.Lab.tb.Fatalf("lab: break backend of %s: %v", lb, err)
	}
	h.backends[lb] = nil
}

// FixBackend starts lb's backend again and waits until it listens.
func (h *HealthLab) FixBackend(lb string) {
	h.Lab.tb.Helper()
	if h.backends[lb] != nil {
		return
	}
	host := h.Node(lb).Host
	h.backends[lb] = host.Start("backend", HelloBin(h.Lab.tb), "-listen", healthBackend, "-body", lb)
	h.Eventually(5*time.Second, "backend of "+lb+" listening", func() error {
		_, err := host.Run("curl", "-sS", "--max-time", "1", "http://"+healthBackend+"/")
		return err
	})
}

// Group is the scenario's group in st.
func (h *HealthLab) Group(st api.Status) api.GroupStatus {
	for _, g := range st.Groups {
		if g.Name == healthGroup {
			return g
		}
	}
	return api.GroupStatus{}
}

// Check is lb's entry for the scenario's check in st.
func (h *HealthLab) Check(st api.Status, lb string) (api.CheckStatus, bool) {
	for _, c := range st.Checks {
		if c.Node == lb && c.Group == healthGroup && c.Name == healthCheck {
			return c, true
		}
	}
	return api.CheckStatus{}, false
}

// LeaderStatus is the status as the current leader sees it (asked on n1,
// forwarded to the leader, which gathers every node's checks).
func (h *HealthLab) LeaderStatus() (api.Status, error) {
	return h.Status("n1")
}

// WaitGroupOn waits until the group is started on lb.
func (h *HealthLab) WaitGroupOn(lb string, timeout time.Duration) api.Status {
	h.Lab.tb.Helper()
	var st api.Status
	h.Eventually(timeout, "group "+healthGroup+" started on "+lb, func() error {
		var err error
		if st, err = h.LeaderStatus(); err != nil {
			return err
		}
		if g := h.Group(st); g.Node != lb || g.State != "started" {
			return fmt.Errorf("group on %q %s (%s)", g.Node, g.State, g.Reason)
		}
		return nil
	})
	return st
}

// WaitCheck waits until lb's check is in state (unknown, healthy,
// unhealthy) in the leader's status, and returns the check's entry.
func (h *HealthLab) WaitCheck(lb, state string, timeout time.Duration) api.CheckStatus {
	h.Lab.tb.Helper()
	var cs api.CheckStatus
	h.Eventually(timeout, lb+"'s check "+state, func() error {
		st, err := h.LeaderStatus()
		if err != nil {
			return err
		}
		c, ok := h.Check(st, lb)
		if !ok {
			return fmt.Errorf("no check of %s in the status", lb)
		}
		cs = c
		if c.State != state {
			return fmt.Errorf("%s's check is %s (%d in a row: %s)", lb, c.State, c.Consecutive, c.Output)
		}
		return nil
	})
	return cs
}

// History is `vigil history -json` on n1: the last n events.
func (h *HealthLab) History(n int) ([]api.Event, error) {
	out, err := h.CLI("n1", "history", "-json", "-n", fmt.Sprint(n))
	if err != nil {
		return nil, err
	}
	var ev []api.Event
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		return nil, fmt.Errorf("history -json: %w: %q", err, out)
	}
	return ev, nil
}

// HealthPlacements are the group's assignments to a node (a start somewhere)
// recorded after since.
func HealthPlacements(ev []api.Event, since time.Time) []api.Event {
	var out []api.Event
	for _, e := range ev {
		if e.Kind == "assign" && e.Group == healthGroup && e.Node != "" && e.Time.After(since) {
			out = append(out, e)
		}
	}
	return out
}

// FirstFailure polls lb's own status (status -stale: no leader round trip)
// until its check reports a failed result newer than after, and returns
// that result's time. exact is true when the result seen is the first
// failure in a row (consecutive 1); the poll is much faster than the check
// interval, so it normally is.
func (h *HealthLab) FirstFailure(ctx context.Context, lb string, after time.Time) (at time.Time, exact bool, err error) {
	for ctx.Err() == nil {
		st, err := h.LocalStatus(ctx, lb)
		if err == nil {
			if c, ok := h.Check(st, lb); ok && c.At.After(after) && !healthPassed(c.Output) {
				return c.At, c.Consecutive == 1, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, false, fmt.Errorf("no failing check result on %s: %w", lb, ctx.Err())
}

// healthPassed tells a passing http check result (2xx or 3xx, the default
// expect_status) from its output line.
func healthPassed(output string) bool {
	return strings.HasPrefix(output, "HTTP 2") || strings.HasPrefix(output, "HTTP 3")
}
