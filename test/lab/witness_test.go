package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWitnessRunsNoResources sets the cluster up as examples/haproxy-pair
// does: the group's control script exists on the load balancers only. The
// witness must not probe, start, stop or monitor anything: before the fix
// it logged "stop failed ... not found" about 33 times a second, forking a
// shell each time. Its log is read over a few seconds of a running cluster
// (with the load balancers' own logs as the positive control).
func TestWitnessRunsNoResources(t *testing.T) {
	l := New(t, "vlabw")
	ctl := filepath.Join(l.Dir(), "$VIGIL_NODE", "svc-ctl")
	script := `#!/bin/sh
pid=$(dirname "$0")/svc.pid
case "$1" in
start) setsid sleep 1000000 </dev/null >/dev/null 2>&1 & echo $! > "$pid" ;;
stop) [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; rm -f "$pid" ;;
status) [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null || exit 3 ;;
esac
`
	group := fmt.Sprintf(`group "svc" {
  prefer = "n1"
  resource "exec" "svc" {
    start            = "%[1]s start"
    stop             = "%[1]s stop"
    status           = "%[1]s status"
    monitor_interval = "1s"
  }
}
`, ctl)
	c := prepareCluster(l, ClusterSpec{Preset: "fast", Extra: group}, Vigil(t))
	for _, n := range []string{"n1", "n2"} { // not on the witness
		if err := os.WriteFile(filepath.Join(l.Dir(), n, "svc-ctl"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		c.Start(n.Name)
	}
	leader := c.WaitHealthy(30 * time.Second)
	// Usually n1 (prefer), but a group is placed at the leader's first
	// decision on whichever load balancer is online then (failback is off):
	// n1 may still be losing an election race of its own (CI once).
	holder := ""
	c.Eventually(30*time.Second, "svc started on a load balancer", func() error {
		st, err := c.Status(leader)
		if err != nil {
			return err
		}
		g, _ := GroupOf(st, "svc")
		if g.State != "started" || (g.Node != "n1" && g.Node != "n2") {
			return fmt.Errorf("svc %s on %q", g.State, g.Node)
		}
		holder = g.Node
		return nil
	})
	time.Sleep(3 * time.Second) // the window the operations are counted in
	w := LogSince(c.Agent("w"), "==== ")
	if n := strings.Count(w, "vigil.executor"); n != 0 {
		t.Fatalf("the witness's executor logged %d lines, want none:\n%s", n, lastLines(w, 10))
	}
	if !strings.Contains(LogSince(c.Agent(holder), "==== "), "vigil.executor") {
		t.Fatalf("control: %s's executor logged nothing either; the log check proves nothing", holder)
	}
	st, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st.Failures {
		if f.Node == "w" {
			t.Errorf("status shows a failing operation on the witness: %+v", f)
		}
	}
}
