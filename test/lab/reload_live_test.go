package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Addresses of TestReloadGroupsLive besides KeyringVIP (group vip).
const (
	reloadWebVIP = "198.18.0.121" // group web, before its changed resource
	reloadAPIVIP = "198.18.0.122" // group api, added then removed
)

// reloadSvcScript is an exec resource's control script that logs every start
// and stop with its version argument, so the test sees which definition ran.
// Its stop takes 300 ms, so the restart is long enough to be sampled.
const reloadSvcScript = `#!/bin/sh
d=$(dirname "$0")
case "$1" in
start) setsid sleep 1000000 </dev/null >/dev/null 2>&1 & echo $! > "$d/svc.pid"; echo "start $2" >> "$d/svc.log" ;;
stop) [ -f "$d/svc.pid" ] && kill "$(cat "$d/svc.pid")" 2>/dev/null; rm -f "$d/svc.pid"; echo "stop $2" >> "$d/svc.log"; sleep 0.3 ;;
status) [ -f "$d/svc.pid" ] && kill -0 "$(cat "$d/svc.pid")" 2>/dev/null || exit 3 ;;
esac
`

func reloadLiveHCL(ctl, version string) string {
	return fmt.Sprintf(`group "vip" {
  prefer = "n2"
  resource "ipaddr" "vip" {
    address   = "%[1]s/24"
    interface = "eth0"
  }
}

group "web" {
  prefer = "n1"
  resource "ipaddr" "web-vip" {
    address   = "%[2]s/24"
    interface = "eth0"
  }
  resource "exec" "svc" {
    start            = "%[3]s start %[4]s"
    stop             = "%[3]s stop %[4]s"
    status           = "%[3]s status"
    monitor_interval = "1s"
  }
}
`, KeyringVIP, reloadWebVIP, ctl, version)
}

const reloadAPIGroup = `
group "api" {
  prefer = "n2"
  resource "ipaddr" "api-vip" {
    address   = "` + reloadAPIVIP + `/24"
    interface = "eth0"
  }
}
`

// TestReloadGroupsLive changes groups with `vigil reload` on every node of a
// running pair + witness, while n2 holds group vip and n1 holds group web
// (a VIP, then a service); the holders of both VIPs are sampled throughout:
//   - the service's parameters change: it is restarted in place on n1 (its
//     old definition stopped, the new one started), and web's VIP, which
//     comes before it, is never removed;
//   - a group is added: it starts; then removed: its VIP is gone and the
//     group leaves status;
//   - a check added to web runs and a removed one goes, restarting nothing;
//   - a file that adds a group but has an error changes nothing and the
//     error names file:line.
//
// Group vip, never changed, stays on n2 without a single gap, and no VIP
// is ever held by two nodes.
func TestReloadGroupsLive(t *testing.T) {
	l := New(t, "vlabg")
	ctl := filepath.Join(l.Dir(), "$VIGIL_NODE", "svc-ctl")
	c := prepareCluster(l, ClusterSpec{Preset: "fast", Extra: reloadLiveHCL(ctl, "v1")}, Vigil(t))
	for _, n := range []string{"n1", "n2"} { // the witness runs no resources
		if err := os.WriteFile(filepath.Join(l.Dir(), n, "svc-ctl"), []byte(reloadSvcScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		c.Start(n.Name)
	}
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	c.SettleOn("vip", "n2", settle)
	c.SettleOn("web", "n1", settle)
	svcLog := func(node string) string {
		b, _ := os.ReadFile(filepath.Join(l.Dir(), node, "svc.log"))
		return strings.TrimSpace(string(b))
	}
	c.Eventually(settle, "svc v1 started on n1", func() error {
		if lines := svcLog("n1"); !strings.HasSuffix(lines, "start v1") {
			return fmt.Errorf("n1 svc log %q", lines)
		}
		return nil
	})
	var hosts []*Host
	for _, n := range c.Nodes {
		hosts = append(hosts, n.Host)
	}
	vip := SampleHolders(hosts, KeyringVIP, 10*time.Millisecond)
	web := SampleHolders(hosts, reloadWebVIP, 10*time.Millisecond)
	api := SampleHolders(hosts, reloadAPIVIP, 10*time.Millisecond)
	defer func() {
		for name, h := range map[string]*Holders{"vip": vip, "web": web} {
			want := map[string]string{"vip": "n2", "web": "n1"}[name]
			h.Stop()
			n := 0
			for _, s := range h.Samples() {
				n++
				if len(s.Hosts) != 1 || s.Hosts[0] != want {
					t.Errorf("group %s's VIP held by %v at %s, want [%s] throughout (no gap, no move)",
						name, s.Hosts, s.Time.Format("15:04:05.000"), want)
					break
				}
			}
			t.Logf("group %s: %d holder samples, all [%s]", name, n, want)
		}
		api.Stop()
		if m := api.MaxHolders(); m > 1 {
			t.Errorf("group api's VIP held by %d nodes at once", m)
		}
	}()

	files := map[string]string{}
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		files[n.Name] = string(b)
	}
	// rewrite edits every node's file and reloads every node, returning the
	// reload replies by node.
	rewrite := func(t *testing.T, edit func(string) string) map[string]string {
		t.Helper()
		return c.RewriteConfigs(t, func(node, _ string) string {
			files[node] = edit(files[node])
			return files[node]
		})
	}

	t.Run("ChangedResourceRestartsInPlace", func(t *testing.T) {
		from := time.Now()
		replies := rewrite(t, func(s string) string {
			return strings.ReplaceAll(s, reloadLiveHCL(ctl, "v1"), reloadLiveHCL(ctl, "v2"))
		})
		if !strings.Contains(replies["n1"], "applied: group web changed: svc restarted in place") {
			t.Fatalf("n1's reload reply does not name the restart:\n%s", replies["n1"])
		}
		c.Eventually(settle, "svc restarted with v2 on n1", func() error {
			if lines := svcLog("n1"); !strings.HasSuffix(lines, "start v1\nstop v1\nstart v2") {
				return fmt.Errorf("n1 svc log %q, want start v1, stop v1, start v2", lines)
			}
			return nil
		})
		// The samplers covered the restart: web's VIP, before the
		// restarted service in its group, stayed on n1 throughout.
		n := 0
		for _, s := range web.Samples() {
			if s.Time.After(from) {
				n++
			}
		}
		if n < 3 {
			t.Errorf("only %d samples of web's VIP during the restart", n)
		}
		t.Logf("%d samples of web's VIP from the reload to the restarted service, all on n1 (checked at the end)", n)
		if got := svcLog("n2"); strings.Contains(got, "v2") {
			t.Errorf("svc v2 ran on n2: %q", got)
		}
		if g, _ := GroupOf(mustStatus(t, c, "n1"), "web"); g.Node != "n1" || g.State != "started" {
			t.Errorf("web %s on %q after the restart, want started on n1", g.State, g.Node)
		}
		c.Eventually(settle, "no configuration warning once every node reloaded", func() error {
			for _, w := range mustStatus(t, c, "n1").Warnings {
				if strings.Contains(w, "configuration") {
					return fmt.Errorf("warned: %s", w)
				}
			}
			return nil
		})
	})

	t.Run("AddedGroupStarts", func(t *testing.T) {
		replies := rewrite(t, func(s string) string { return s + reloadAPIGroup })
		if !strings.Contains(replies["n1"], "applied: group api added") {
			t.Fatalf("reload reply:\n%s", replies["n1"])
		}
		c.Eventually(settle, "api started", func() error {
			g, ok := GroupOf(mustStatus(t, c, "n1"), "api")
			if !ok || g.State != "started" || g.Node == "" {
				return fmt.Errorf("api %+v", g)
			}
			if !c.Node(g.Node).Host.HasAddr(reloadAPIVIP) {
				return fmt.Errorf("%s does not hold %s", g.Node, reloadAPIVIP)
			}
			return nil
		})
	})

	t.Run("RemovedGroupStops", func(t *testing.T) {
		replies := rewrite(t, func(s string) string { return strings.Replace(s, reloadAPIGroup, "", 1) })
		if !strings.Contains(replies["n1"], "applied: group api removed") {
			t.Fatalf("reload reply:\n%s", replies["n1"])
		}
		c.Eventually(settle, "api's VIP gone and api out of status", func() error {
			for _, n := range c.Nodes {
				if n.Host.HasAddr(reloadAPIVIP) {
					return fmt.Errorf("%s still holds %s", n.Name, reloadAPIVIP)
				}
			}
			for _, n := range c.Nodes {
				if g, ok := GroupOf(mustStatus(t, c, n.Name), "api"); ok {
					return fmt.Errorf("%s's status still shows api: %+v", n.Name, g)
				}
			}
			return nil
		})
	})

	t.Run("ChecksReplacedWithoutRestart", func(t *testing.T) {
		svcBefore := svcLog("n1")
		check := "  check \"exec\" \"alive\" {\n    command  = \"true\"\n    interval = \"1s\"\n  }\n"
		anchor := "    monitor_interval = \"1s\"\n  }\n"
		rewrite(t, func(s string) string { return strings.Replace(s, anchor, anchor+check, 1) })
		alive := func() (bool, error) {
			st, err := c.Status("n1")
			if err != nil {
				return false, err
			}
			for _, ch := range st.Checks {
				if ch.Node == "n1" && ch.Group == "web" && ch.Name == "alive" {
					return ch.State == "healthy", nil
				}
			}
			return false, nil
		}
		c.Eventually(settle, "the added check healthy on n1", func() error {
			if ok, err := alive(); !ok {
				return fmt.Errorf("check alive not healthy on n1 (%v)", err)
			}
			return nil
		})
		rewrite(t, func(s string) string { return strings.Replace(s, check, "", 1) })
		st := mustStatus(t, c, "n1")
		for _, ch := range st.Checks {
			if ch.Name == "alive" {
				t.Errorf("removed check still in n1's status: %+v", ch)
			}
		}
		if got := svcLog("n1"); got != svcBefore {
			t.Errorf("a changed check restarted the service: log %q, was %q", got, svcBefore)
		}
	})

	t.Run("InvalidFileChangesNothing", func(t *testing.T) {
		n1 := c.Node("n1")
		bad := files["n1"] + reloadAPIGroup + "\ngroup \"broken\" {\n  prefer = 7\n}\n"
		if err := os.WriteFile(n1.Config, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := c.CLI("n1", "reload")
		if err == nil {
			t.Fatalf("reload of an invalid file succeeded: %s", out)
		}
		if !strings.Contains(err.Error(), "vigil.hcl:") || !strings.Contains(err.Error(), "nothing changed") {
			t.Fatalf("error does not name file:line: %v", err)
		}
		if _, ok := GroupOf(mustStatus(t, c, "n1"), "api"); ok {
			t.Error("a refused file added a group")
		}
		// Back to the file n1 ran before: a reload finds nothing to change,
		// so the refused one changed nothing.
		if err := os.WriteFile(n1.Config, []byte(files["n1"]), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = c.CLI("n1", "reload")
		if err != nil || !strings.Contains(out, "no changes") {
			t.Fatalf("reload of the previous file: %v\n%s", err, out)
		}
	})
}
