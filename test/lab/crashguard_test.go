package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashGuard is the haproxy pair (group web: VIP + haproxy) with no
// fencing device at all. The holder's agent is killed (kill -9), frozen for
// 5 s (SIGSTOP, then SIGCONT), or crashed by a Go panic, and, separately,
// its crash guard alone is killed. Addresses are sampled every 5 ms on both
// load balancers throughout and a client requests the VIP every 10 ms: no
// sample may show the VIP on both, the client is served by the new holder
// only once it switched, and afterwards the group runs on exactly one node
// (VIP and haproxy). Killing the guard alone must not move the group, and a
// clean stop of an agent takes its guard with it.
func TestCrashGuard(t *testing.T) {
	l := New(t, "vlabcg")
	StartWebBackends(l)
	client := l.AddClient("client", "198.18.0.50")
	panicFile := filepath.Join(l.Dir(), "panic")
	t.Setenv("VIGIL_TEST_PANIC_FILE", panicFile) // the agent panics when panic.<its pid> appears
	c := StartCluster(l, ClusterSpec{Preset: "fast", Extra: WebGroupHCL(t, l.Dir(), "n1", 3)})
	for _, n := range []string{"n1", "n2"} {
		EnableNonlocalBind(c.Node(n).Host)
	}
	const settle = 60 * time.Second
	c.WaitHealthy(settle)
	holders := SampleHolders([]*Host{c.Node("n1").Host, c.Node("n2").Host}, WebVIP, 5*time.Millisecond)
	noOverlap := func(t *testing.T) {
		t.Helper()
		for _, s := range holders.Samples() {
			if len(s.Hosts) > 1 {
				t.Errorf("%s held by %v at %s", WebVIP, s.Hosts, s.Time.Format("15:04:05.000"))
			}
		}
	}

	t.Run("KillGuardAlone", func(t *testing.T) {
		on := waitGroupStarted(t, c, "web", "", settle)
		h := c.Node(on).Host
		old := guardPid(t, h)
		if old == 0 {
			t.Fatalf("no crash guard runs on %s", on)
		}
		logged := len(agentLog(t, c, on))
		at := time.Now()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.Eventually(10*time.Second, "a new crash guard on "+on, func() error {
			if p := guardPid(t, h); p == 0 || p == old {
				return fmt.Errorf("guard pid %d (killed %d)", p, old)
			}
			return nil
		})
		// Longer than the address lifetime (2 s at fast) plus the kernel's
		// slack: only a new guard renewing it keeps the address.
		time.Sleep(4 * time.Second)
		for _, s := range holders.Samples() {
			if s.Time.After(at) && len(s.Hosts) > 0 && (len(s.Hosts) != 1 || s.Hosts[0] != on) {
				t.Errorf("after %s's guard was killed, %s held by %v at %s", on, WebVIP, s.Hosts, s.Time.Format("15:04:05.000"))
				break
			}
		}
		if now := waitGroupStarted(t, c, "web", "", settle); now != on {
			t.Errorf("web moved from %s to %s when only the guard was killed", on, now)
		}
		log := agentLog(t, c, on)[logged:]
		if !strings.Contains(log, "crash guard unreachable; replacing it") {
			t.Errorf("%s's log does not say the guard was lost and replaced", on)
		}
		// The VIP may only have gone missing with a reason: a stall of the
		// whole agent (this machine is shared) that its lease did not
		// survive. An unrenewed lifetime would show as a failed VIP alone.
		if strings.Contains(log, "resource failed: group=web resource=vip") && !strings.Contains(log, "agent stalled") {
			t.Errorf("%s's VIP vanished after the guard was replaced:\n%s", on, log)
		}
		if !c.Node(on).Host.HasAddr(WebVIP) {
			t.Errorf("%s lost %s after its guard was replaced", on, WebVIP)
		}
		noOverlap(t)
	})

	// systemctl stop (SIGTERM) of the standby: its guard, holding nothing,
	// exits with the agent. (The holder's clean stop is not used here: a
	// restarted agent keeps its "leaving" mark, issue 9.)
	t.Run("CleanStopLetsTheGuardGo", func(t *testing.T) {
		standby := Other(waitGroupStarted(t, c, "web", "", settle))
		h := c.Node(standby).Host
		if guardPid(t, h) == 0 {
			t.Fatalf("no crash guard on %s", standby)
		}
		logged := len(agentLog(t, c, standby))
		c.Stop(standby)
		if p := guardPid(t, h); p != 0 {
			t.Errorf("crash guard (pid %d) still runs after %s's agent stopped", p, standby)
		}
		log := agentLog(t, c, standby)[logged:]
		if !strings.Contains(log, "crash guard done: nothing left to guard") || strings.Contains(log, "removing floating addresses") {
			t.Errorf("the guard should have exited with nothing to remove:\n%s", log)
		}
		c.Start(standby)
		c.WaitHealthy(settle)
		noOverlap(t)
	})

	crash := func(t *testing.T, tag, why string, act func(from string), after func(from string)) {
		t.Helper()
		from := waitGroupStarted(t, c, "web", "", settle)
		to := Other(from)
		p := client.StartLBProbe(tag, "http://"+WebVIP+"/", "X-LB")
		waitSteady(t, p, AnsweredBy, from, 15*time.Second)
		logFrom := c.Agent(from).Log
		logged := len(agentLog(t, c, from))
		act(from)
		waitSteady(t, p, AnsweredBy, to, 30*time.Second)
		after(from)
		_ = p.Stop(2 * time.Second)
		// Once the new holder answered, the old one never does again.
		switched := false
		for _, s := range readSamples(t, p) {
			switched = switched || AnsweredBy(s) == to
			if switched && AnsweredBy(s) == from {
				t.Errorf("%s answered at %s after %s had taken over", from, s.Time.Format("15:04:05.000"), to)
			}
		}
		if b, err := os.ReadFile(logFrom); err != nil || !strings.Contains(string(b[logged:]), why) {
			t.Errorf("%s's guard did not log %q (%v)", from, why, err)
		}
		c.WaitHealthy(settle)
		if on := waitGroupStarted(t, c, "web", "", settle); on != to {
			t.Errorf("web is on %s afterwards, want %s", on, to)
		}
		c.Eventually(20*time.Second, "web running on "+to+" only", func() error {
			switch {
			case HAProxyPid(l.Dir(), from) != 0:
				return fmt.Errorf("haproxy still runs on %s", from)
			case c.Node(from).Host.HasAddr(WebVIP):
				return fmt.Errorf("%s still holds %s", from, WebVIP)
			case HAProxyPid(l.Dir(), to) == 0 || !c.Node(to).Host.HasAddr(WebVIP):
				return fmt.Errorf("web not fully up on %s", to)
			}
			return nil
		})
		noOverlap(t)
	}

	t.Run("KillAgent", func(t *testing.T) {
		crash(t, "kill", "the agent is gone", func(from string) {
			if err := c.Agent(from).Kill(); err != nil {
				t.Fatal(err)
			}
		}, func(from string) {
			// Lost without a fence: status says until when its addresses
			// may linger at worst.
			c.Eventually(10*time.Second, "status: "+from+" lost unfenced", func() error {
				st, err := c.Status(Other(from))
				if err != nil {
					return err
				}
				for _, w := range st.Warnings {
					if strings.HasPrefix(w, from+": lost unfenced: its addresses expire") {
						return nil
					}
				}
				return fmt.Errorf("warnings %q", st.Warnings)
			})
			c.Start(from)
		})
	})

	t.Run("FreezeAgent5s", func(t *testing.T) {
		crash(t, "freeze", "lease deadline passed", func(from string) {
			c.Node(from).Host.Freeze(c.Agent(from))
			time.Sleep(5 * time.Second)
			c.Node(from).Host.Thaw(c.Agent(from))
		}, func(from string) {
			c.Eventually(10*time.Second, from+" notices its stall", func() error {
				if !strings.Contains(agentLog(t, c, from), "agent stalled") {
					return fmt.Errorf("no stall in %s's log", from)
				}
				return nil
			})
		})
	})

	t.Run("PanicAgent", func(t *testing.T) {
		crash(t, "panic", "the agent is gone", func(from string) {
			p := c.Agent(from)
			if err := os.WriteFile(fmt.Sprintf("%s.%d", panicFile, p.Pid), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := p.WaitTimeout(5 * time.Second); err == nil {
				t.Fatalf("%s's agent did not crash", from)
			}
		}, func(from string) {
			if !strings.Contains(agentLog(t, c, from), "panic: injected") {
				t.Errorf("%s's agent exited but not by the injected panic", from)
			}
			c.Start(from)
		})
	})
}

// guardPid is the pid of the crash guard running in h (0: none).
func guardPid(t *testing.T, h *Host) int {
	t.Helper()
	for _, pid := range netnsPids(h.NS()) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), "\x00guard\x00") {
			return pid
		}
	}
	return 0
}

func agentLog(t *testing.T, c *Cluster, node string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Lab.Dir(), "logs", node+"-vigil.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
