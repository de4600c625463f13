package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// TestFailover is the haproxy pair of examples/haproxy-pair in the lab: n1
// and n2 run vigil (with witness w) and, in group "web", the VIP plus haproxy
// in front of backends b1 and b2; group "www" is a second VIP plus apache
// through ocf:heartbeat:apache. A client in its own namespace requests each
// VIP every 10 ms (20 ms timeout), and every namespace's addresses are
// sampled throughout: no sample may show two holders of a VIP. The subtests
// share one cluster and run in order; where a group runs is tracked, not
// assumed.
func TestFailover(t *testing.T) {
	l := New(t, "vlabfo")
	WriteApacheConfig(l, "n1", "n2")
	backends := StartWebBackends(l)
	client := l.AddClient("client", "198.18.0.50")
	c := StartCluster(l, ClusterSpec{Preset: "fast",
		Extra: WebGroupHCL(t, l.Dir(), "n1", 3) + "\n" + ApacheGroupHCL(l.Dir(), "n2")})
	CheckApacheLayout(c)
	for _, n := range []string{"n1", "n2"} {
		EnableNonlocalBind(c.Node(n).Host)
	}
	const settle = 30 * time.Second
	c.WaitHealthy(settle)

	all := []*Host{c.Node("n1").Host, c.Node("n2").Host, c.Node("w").Host, backends[0], backends[1], client}
	holders := map[string]*Holders{
		WebVIP:    SampleHolders(all, WebVIP, 10*time.Millisecond),
		ApacheVIP: SampleHolders(all, ApacheVIP, 10*time.Millisecond),
	}
	noOverlap := func(t *testing.T) {
		t.Helper()
		for vip, hs := range holders {
			for _, s := range hs.Samples() {
				if len(s.Hosts) > 1 {
					t.Errorf("%s held by %v at %s", vip, s.Hosts, s.Time.Format("15:04:05.000"))
				}
			}
		}
	}
	other := func(n string) string {
		if n == "n1" {
			return "n2"
		}
		return "n1"
	}

	// Where each group runs: set by StartsEverything, updated by each move.
	var web, www string

	t.Run("StartsEverything", func(t *testing.T) {
		web = waitGroupStarted(t, c, "web", "", settle)
		www = waitGroupStarted(t, c, "www", "", settle)
		cl := startClients(client, "start")
		cl.waitWeb(t, web, 10*time.Second)
		cl.waitApache(t, www, 10*time.Second)
		// haproxy balances over both backends.
		time.Sleep(200 * time.Millisecond)
		seen := map[string]bool{}
		for _, s := range cl.web(t) {
			if f := strings.Fields(s.Body); s.OK && len(f) == 2 && f[0] == web {
				seen[f[1]] = true
			}
		}
		if !seen["b1"] || !seen["b2"] {
			t.Errorf("answers through %s's haproxy came from backends %v, want b1 and b2", web, seen)
		}
		for vip, on := range map[string]string{WebVIP: web, ApacheVIP: www} {
			if !c.Node(on).Host.HasAddr(vip) || c.Node(other(on)).Host.HasAddr(vip) {
				t.Errorf("%s should be on %s only", vip, on)
			}
		}
		cl.stop()
		noOverlap(t)
	})

	t.Run("MaintenanceLeavesKilledHAProxyAlone", func(t *testing.T) {
		foCLI(t, c, web, "maintenance", "on")
		c.Eventually(10*time.Second, "maintenance on in status", func() error {
			st, err := c.Status(web)
			if err == nil && !st.Maintenance {
				err = fmt.Errorf("status of %s: maintenance false", web)
			}
			return err
		})
		cl := startClients(client, "maint")
		KillHAProxy(t, l.Dir(), web)
		// Six monitor intervals: vigil must neither restart nor move it.
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if pid := HAProxyPid(l.Dir(), web); pid != 0 {
				t.Fatalf("haproxy (pid %d) was started on %s in maintenance mode", pid, web)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if on, _ := groupOn(t, c, web, "web"); on != web {
			t.Errorf("web moved to %q in maintenance mode", on)
		}
		if !c.Node(web).Host.HasAddr(WebVIP) {
			t.Errorf("the VIP left %s in maintenance mode", web)
		}
		if ok := answeredSince(cl.web(t), time.Now().Add(-time.Second)); ok > 0 {
			t.Errorf("%d answers on the VIP in the last second with haproxy killed", ok)
		}

		foCLI(t, c, web, "maintenance", "off")
		c.Eventually(10*time.Second, "haproxy restarted on "+web+" after maintenance off", func() error {
			if HAProxyPid(l.Dir(), web) == 0 {
				return fmt.Errorf("no haproxy on %s", web)
			}
			return nil
		})
		cl.waitWeb(t, web, 10*time.Second)
		if on := waitGroupStarted(t, c, "web", "", settle); on != web {
			t.Errorf("web moved to %s; the first failure should restart it in place", on)
		}
		cl.stop()
		foCLI(t, c, web, "resource", "cleanup", "web")
		waitFailCount(t, c, web, 0)
		noOverlap(t)
	})

	t.Run("HAProxyRestartedInPlaceThenGroupMoves", func(t *testing.T) {
		cl := startClients(client, "restart")
		from := time.Now()
		for i := 1; i <= 2; i++ {
			old := KillHAProxy(t, l.Dir(), web)
			c.Eventually(10*time.Second, fmt.Sprintf("haproxy restarted in place on %s (kill %d)", web, i), func() error {
				if pid := HAProxyPid(l.Dir(), web); pid == 0 || pid == old {
					return fmt.Errorf("haproxy pid %d on %s (killed %d)", pid, web, old)
				}
				return nil
			})
			waitFailCount(t, c, web, i)
			cl.waitWeb(t, web, 10*time.Second)
		}
		// Restarting in place leaves the VIP where it is.
		for _, s := range holders[WebVIP].Samples() {
			if s.Time.After(from) && !slices.Equal(s.Hosts, []string{web}) {
				t.Errorf("during restarts in place the VIP was held by %v at %s, want [%s]", s.Hosts, s.Time.Format("15:04:05.000"), web)
				break
			}
		}
		if out := HAProxyPid(l.Dir(), other(web)); out != 0 {
			t.Errorf("haproxy (pid %d) runs on the standby %s", out, other(web))
		}

		// The third failure reaches migration_threshold = 3: the group moves.
		KillHAProxy(t, l.Dir(), web)
		to := waitGroupStarted(t, c, "web", other(web), settle)
		cl.waitWeb(t, to, 10*time.Second)
		if c.Node(web).Host.HasAddr(WebVIP) {
			t.Errorf("%s still holds the VIP after the group moved to %s", web, to)
		}
		cl.stop()
		web = to
		foCLI(t, c, web, "resource", "cleanup", "web")
		noOverlap(t)
	})

	t.Run("StandbySwitchesOverCleanly", func(t *testing.T) {
		cl := startClients(client, "standby")
		cl.waitWeb(t, web, 10*time.Second)
		old := web
		foCLI(t, c, old, "node", "standby", old)
		web = waitGroupStarted(t, c, "web", other(old), settle)
		www = waitGroupStarted(t, c, "www", other(old), settle)
		cl.waitWeb(t, web, 10*time.Second)
		cl.waitApache(t, www, 10*time.Second)
		for _, vip := range []string{WebVIP, ApacheVIP} {
			if c.Node(old).Host.HasAddr(vip) {
				t.Errorf("%s in standby still holds %s", old, vip)
			}
		}
		if pid := HAProxyPid(l.Dir(), old); pid != 0 {
			t.Errorf("haproxy (pid %d) still runs on %s in standby", pid, old)
		}
		if gap, ok := Switch(cl.web(t), AnsweredBy, old, web); ok {
			t.Logf("standby %s: client-observed switchover %s -> %s: %v", old, old, web, gap.Round(time.Millisecond))
		}
		cl.stop()
		foCLI(t, c, old, "node", "online", old)
		c.WaitHealthy(settle)
		noOverlap(t)
	})

	t.Run("PowerOffOfActiveNodeMovesVIPAndServices", func(t *testing.T) {
		if web != www {
			t.Fatalf("web on %s, www on %s: the standby subtest should have put both on one node", web, www)
		}
		cl := startClients(client, "poweroff")
		cl.waitWeb(t, web, 10*time.Second)
		cl.waitApache(t, www, 10*time.Second)
		old := web
		c.PowerOff(old)
		web = waitGroupStarted(t, c, "web", other(old), settle)
		www = waitGroupStarted(t, c, "www", other(old), settle)
		cl.waitWeb(t, web, 15*time.Second)
		cl.waitApache(t, www, 15*time.Second)
		if gap, ok := Switch(cl.web(t), AnsweredBy, old, web); ok {
			t.Logf("power-off %s: client-observed haproxy VIP downtime %v", old, gap.Round(time.Millisecond))
		}
		if gap, ok := Switch(cl.apache(t), apacheNode, old, www); ok {
			t.Logf("power-off %s: client-observed apache VIP downtime %v", old, gap.Round(time.Millisecond))
		}

		// Back on, the old node rejoins without taking anything back.
		c.PowerOn(old)
		c.WaitHealthy(settle)
		time.Sleep(time.Second)
		for _, vip := range []string{WebVIP, ApacheVIP} {
			if c.Node(old).Host.HasAddr(vip) {
				t.Errorf("%s holds %s after power-on", old, vip)
			}
			if !c.Node(web).Host.HasAddr(vip) {
				t.Errorf("%s lost %s when %s came back", web, vip, old)
			}
		}
		cl.waitWeb(t, web, 5*time.Second)
		cl.stop()
		noOverlap(t)
	})

	for vip, hs := range holders {
		hs.Stop()
		t.Logf("%s: %d address samples of %d namespaces, %d dropped rounds, at most %d holder(s)",
			vip, len(hs.Samples()), len(all), hs.Errors(), hs.MaxHolders())
	}
}

// clients are the two VIP probes of one subtest.
type clients struct {
	webP, wwwP *Proc
}

func startClients(h *Host, tag string) *clients {
	h.lab.tb.Helper()
	return &clients{
		webP: h.StartLBProbe("web-"+tag, "http://"+WebVIP+"/", "X-LB"),
		wwwP: h.StartLBProbe("www-"+tag, "http://"+ApacheVIP+"/", ""),
	}
}

func (cl *clients) stop() {
	_ = cl.webP.Stop(2 * time.Second)
	_ = cl.wwwP.Stop(2 * time.Second)
}

func (cl *clients) web(t testing.TB) []Sample    { return readSamples(t, cl.webP) }
func (cl *clients) apache(t testing.TB) []Sample { return readSamples(t, cl.wwwP) }

// waitWeb waits until the last 20 answers on the haproxy VIP all came
// through node's haproxy.
func (cl *clients) waitWeb(t testing.TB, node string, timeout time.Duration) {
	t.Helper()
	waitSteady(t, cl.webP, AnsweredBy, node, timeout)
}

// waitApache waits until the last 20 answers on the apache VIP all came
// from node's apache.
func (cl *clients) waitApache(t testing.TB, node string, timeout time.Duration) {
	t.Helper()
	waitSteady(t, cl.wwwP, apacheNode, node, timeout)
}

// apacheNode is the node named by an apache answer ("apache n1").
func apacheNode(s Sample) string {
	if n, ok := strings.CutPrefix(s.Body, "apache "); s.OK && ok {
		return n
	}
	return ""
}

func readSamples(t testing.TB, p *Proc) []Sample {
	t.Helper()
	s, err := ReadProbe(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitSteady(t testing.TB, p *Proc, by func(Sample) string, node string, timeout time.Duration) {
	t.Helper()
	const n = 20
	var last []Sample
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s := readSamples(t, p)
		last = s[max(0, len(s)-n):]
		if len(last) == n && !slices.ContainsFunc(last, func(x Sample) bool { return by(x) != node }) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var lines []string
	for _, x := range last {
		lines = append(lines, fmt.Sprintf("%s ok=%v %s", x.Time.Format("15:04:05.000"), x.OK, x.Body))
	}
	t.Fatalf("%s: the last %d answers are not all from %s after %v:\n%s", p.Name, n, node, timeout, strings.Join(lines, "\n"))
}

// answeredSince counts successful samples after from.
func answeredSince(samples []Sample, from time.Time) int {
	n := 0
	for _, s := range samples {
		if s.OK && s.Time.After(from) {
			n++
		}
	}
	return n
}

// groupOn is where the status of node places group, and its state.
func groupOn(t testing.TB, c *Cluster, node, group string) (string, string) {
	t.Helper()
	for _, g := range foStatus(t, c, node).Groups {
		if g.Name == group {
			return g.Node, g.State
		}
	}
	t.Fatalf("status of %s has no group %s", node, group)
	return "", ""
}

// waitGroupStarted waits until every running agent's status shows group
// started on one node (on want, unless want is "") and returns that node.
func waitGroupStarted(t testing.TB, c *Cluster, group, want string, timeout time.Duration) string {
	t.Helper()
	var on string
	c.Eventually(timeout, "group "+group+" started on "+cmp(want, "a node"), func() error {
		on = ""
		for _, n := range c.Up() {
			st, err := c.Status(n)
			if err != nil {
				return err
			}
			var g *api.GroupStatus
			for i := range st.Groups {
				if st.Groups[i].Name == group {
					g = &st.Groups[i]
				}
			}
			switch {
			case g == nil:
				return fmt.Errorf("%s's status has no group %s", n, group)
			case g.State != "started" || g.Node == "" || (want != "" && g.Node != want):
				return fmt.Errorf("%s sees %s %s on %q (%s)", n, group, g.State, g.Node, g.Reason)
			case on != "" && g.Node != on:
				return fmt.Errorf("agents disagree: %s on %s and %s", group, on, g.Node)
			}
			on = g.Node
		}
		return nil
	})
	return on
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// waitFailCount waits until the haproxy resource of group web shows count
// failures on node (the node running it).
func waitFailCount(t testing.TB, c *Cluster, node string, count int) {
	t.Helper()
	c.Eventually(10*time.Second, fmt.Sprintf("haproxy fail count %d", count), func() error {
		st, err := c.Status(node)
		if err != nil {
			return err
		}
		for _, g := range st.Groups {
			for _, r := range g.Resources {
				if g.Name == "web" && r.Name == "haproxy" {
					if r.FailCount != count {
						return fmt.Errorf("haproxy fail count %d on %s (last failure %q)", r.FailCount, g.Node, r.LastFailure)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("no web/haproxy in the status")
	})
}

func foStatus(t testing.TB, c *Cluster, node string) api.Status {
	t.Helper()
	st, err := c.Status(node)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func foCLI(t testing.TB, c *Cluster, node string, args ...string) string {
	t.Helper()
	out, err := c.CLI(node, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// TestExampleConfigsValidate loads each machine's config of the examples
// (cluster.hcl plus its node file) with `vigil config validate`, after
// making the gossip key and certificates the READMEs tell the user to make,
// in a temporary directory standing in for /etc/vigil.
func TestExampleConfigsValidate(t *testing.T) {
	bin := Vigil(t)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for ex, nodes := range map[string][]string{
		"haproxy-pair": {"lb1", "lb2", "witness"},
		"apache-ocf":   {"www1", "www2", "witness"},
	} {
		for i, node := range nodes {
			t.Run(ex+"/"+node, func(t *testing.T) {
				root := t.TempDir()
				etc := filepath.Join(root, "etc", "vigil")
				tls := filepath.Join(etc, "tls")
				if err := os.MkdirAll(tls, 0o700); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"cluster.hcl", node + ".hcl"} {
					b, err := os.ReadFile(filepath.Join(ExampleDir(t, ex), f))
					if err != nil {
						t.Fatal(err)
					}
					s := strings.ReplaceAll(string(b), "/etc/vigil/", etc+"/")
					s = strings.ReplaceAll(s, "/var/lib/vigil", filepath.Join(root, "data"))
					if err := os.WriteFile(filepath.Join(etc, f), []byte(s), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				run("keygen", "-out", filepath.Join(etc, "gossip.key"))
				run("tls", "ca", "create", "-dir", tls)
				run("tls", "cert", "create", "-dir", tls, "-node", node,
					"-ip", fmt.Sprintf("198.18.0.%d", 11+i), "-ip", fmt.Sprintf("198.18.1.%d", 11+i))
				run("config", "validate", etc)
			})
		}
	}
}
