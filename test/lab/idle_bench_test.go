package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleCost measures what an idle, healthy cluster costs each node:
// CPU (utime+stime of every vigil process of the node, the crash guard
// included, plus the children they reaped, from /proc/PID/stat) as a
// percentage of one core over the window, resident memory and threads at
// the end. It runs side by side, over the same window, a vigil cluster at
// the fast preset, one at the lan preset, two at fast with some values
// tuned (idleVariants; each n1, n2, witness, a group with one VIP running
// on n1) and keepalived pairs (one VIP) at advert_int 1 and 0.1.
// The window is 60 s (VIGIL_IDLE_WINDOW overrides it, e.g. 20s while
// iterating). With VIGIL_IDLE_PROFILE=DIR each vigil agent writes a CPU
// profile of the window to DIR/<tag>-<node>.pprof (idleVariants) (`go tool pprof`)
// and an execution trace to DIR/<tag>-<node>.trace (`go tool trace`: what
// wakes each goroutine; VIGIL_IDLE_TRACE=0 leaves it out, since the tracer
// costs CPU of its own). VIGIL_IDLE_VARIANTS=fast,lan runs only those tags.
//
//	VIGIL_BENCH=1 go test ./test/lab -run '^$' -bench IdleCost -benchtime 1x
func BenchmarkIdleCost(b *testing.B) {
	if os.Getenv("VIGIL_BENCH") == "" {
		b.Skip("lab bench: set VIGIL_BENCH=1 (make bench)")
	}
	window := durationFromEnv(b, "VIGIL_IDLE_WINDOW", time.Minute)
	const settle = 5 * time.Second // start bursts, first monitors, elections done
	profDir := os.Getenv("VIGIL_IDLE_PROFILE")

	var subjects []idleSubject
	var profiles []string
	only := os.Getenv("VIGIL_IDLE_VARIANTS")
	for _, v := range idleVariants {
		if only != "" && !slices.Contains(strings.Split(only, ","), v.tag) {
			continue
		}
		preset := v.preset
		l := New(b, "vlabidle"+v.tag)
		c := prepareCluster(l, ClusterSpec{Preset: preset, LogLevel: "info", Extra: vipGroupHCL("n1"),
			ClusterExtra: v.tuning}, Vigil(b))
		for _, n := range c.Nodes {
			argv := []string{c.Bin, "agent", "-config", n.Config}
			env := v.env
			if profDir != "" {
				prof, _ := filepath.Abs(filepath.Join(profDir, v.tag+"-"+n.Name+".pprof"))
				// From the agent's start: the window begins some seconds
				// after that, so the profile includes the start-up.
				env = append(slices.Clone(env), "VIGIL_CPU_PROFILE="+prof,
					"VIGIL_CPU_PROFILE_FOR="+(window+10*time.Second).String())
				if os.Getenv("VIGIL_IDLE_TRACE") != "0" {
					env = append(env, "VIGIL_EXEC_TRACE="+strings.TrimSuffix(prof, ".pprof")+".trace")
				}
				profiles = append(profiles, prof)
			}
			if len(env) > 0 {
				argv = append(append([]string{"env"}, env...), argv...)
			}
			n.proc = n.Host.Start("vigil", argv...)
		}
		leader := c.WaitHealthy(60 * time.Second)
		waitGroupStarted(b, c, "vip", "n1", 30*time.Second)
		for _, n := range c.Nodes {
			role := "follower"
			switch {
			case n.Name == leader:
				role = "leader"
			case n.Witness:
				role = "witness"
			}
			if n.Name == "n1" {
				role += ", VIP"
			}
			subjects = append(subjects, idleSubject{system: "vigil " + v.name, node: n.Name, role: role,
				ns: n.Host.NS(), comm: "vigil"})
		}
	}
	for _, adv := range []string{"1", "0.1"} {
		l := New(b, "vlabidleka"+strings.ReplaceAll(adv, ".", ""))
		k := StartKeepalivedPair(l, adv)
		k.WaitMaster("n1", 30*time.Second)
		for _, n := range []string{"n1", "n2"} {
			role := "backup"
			if n == "n1" {
				role = "master, VIP"
			}
			subjects = append(subjects, idleSubject{system: "keepalived advert " + adv, node: n, role: role,
				ns: k.Hosts[n].NS(), comm: "keepalived"})
		}
	}
	time.Sleep(settle)

	load0 := loadAvg()
	before := make([][2]procUsage, len(subjects))
	for i, s := range subjects {
		before[i] = s.usage()
	}
	t0 := time.Now()
	time.Sleep(window)
	elapsed := time.Since(t0)
	var t strings.Builder
	fmt.Fprintf(&t, "idle cost per node over %v (load average %s at the start, %s at the end; %d cores):\n",
		elapsed.Round(time.Second), load0, loadAvg(), runtime.NumCPU())
	fmt.Fprintf(&t, "%-22s %-4s %-14s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s\n", "system", "node", "role",
		"cpu %", "rss MB", "anon MB", "threads", "wake/s", "guard:", "rss MB", "anon MB", "threads", "wake/s")
	worst := map[string]float64{}
	for i, s := range subjects {
		after := s.usage()
		if after[0].procs == 0 {
			b.Fatalf("%s on %s: no %s process left", s.system, s.node, s.comm)
		}
		key := strings.ReplaceAll(s.system, " ", "-") + "-" + strings.TrimRight(strings.Fields(s.role)[0], ",")
		// A process replaced during the window (a new guard) or a thread
		// that exited makes a sum shrink: shown as -1, not as a figure.
		per := func(a, b uint64, scale float64) float64 {
			if a < b {
				return -1
			}
			return float64(a-b) * scale / elapsed.Seconds()
		}
		pct := func(j int) float64 { return per(after[j].ticks, before[i][j].ticks, 100.0/clkTck) }
		wakes := func(j int) float64 { return per(after[j].switches, before[i][j].switches, 1) }
		cpu, rss := pct(0), float64(after[0].rssKB)/1024
		worst[key+"-cpu%"] = max(worst[key+"-cpu%"], cpu+pct(1)) // agent and guard
		mb := func(kb uint64) float64 { return float64(kb) / 1024 }
		fmt.Fprintf(&t, "%-22s %-4s %-14s %7.2f %7.1f %7.1f %7d %7.0f", s.system, s.node, s.role, cpu, rss,
			mb(after[0].anonKB), after[0].threads, wakes(0))
		if after[1].procs > 0 {
			fmt.Fprintf(&t, " %7.2f %7.1f %7.1f %7d %7.0f", pct(1), mb(after[1].rssKB), mb(after[1].anonKB), after[1].threads, wakes(1))
		}
		t.WriteString("\n")
		worst[key+"-rssMB"] = max(worst[key+"-rssMB"], rss)
	}
	fmt.Fprintf(&t, "cpu %%: of one core; the guard columns are vigil's crash guard process (counted apart: its RSS is mostly\n"+
		"the binary's pages, shared with the agent); anon MB: RSS without file pages (the binary); wake/s: context switches of all threads per second\n")
	fmt.Fprintf(&t, "targets (issue 12): vigil fast <= 0.50 %% and lan <= 0.20 %% of one core on leader and follower, RSS <= 40 MB\n")
	fmt.Print(t.String())
	for _, p := range profiles {
		if err := poll(30*time.Second, 200*time.Millisecond, func() error {
			if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
				return fmt.Errorf("CPU profile %s not written", p)
			}
			return nil
		}); err != nil {
			b.Error(err)
		}
	}
	b.ReportMetric(0, "ns/op")
	for k, v := range worst {
		b.ReportMetric(v, k)
	}
}

// idleVariants are the vigil clusters the idle bench runs side by side:
// the presets, the fast preset with the raft commit timeout it had before
// commands pushed their commit with a barrier (10 ms), and the fast preset
// with the Go runtime held to one thread running Go code at a time, to
// show what those cost at idle.
var idleVariants = []struct {
	name, tag, preset, tuning string
	env                       []string // for the agents
}{
	{"fast", "fast", "fast", "", nil},
	{"lan", "lan", "lan", "", nil},
	{"fast commit10", "fastc", "fast", "  tuning {\n    raft_commit_timeout = \"10ms\"\n  }\n", nil}, // fast's before the commit barrier
	{"fast GOMAXPROCS=1", "fastg", "fast", "", []string{"GOMAXPROCS=1"}},
}

// vipGroupHCL is a group "vip" with one address, preferring node prefer.
func vipGroupHCL(prefer string) string {
	return fmt.Sprintf(`group "vip" {
  prefer   = %q
  failback = false
  resource "ipaddr" "vip" {
    address   = "%s/24"
    interface = "eth0"
  }
}
`, prefer, WebVIP)
}

// idleSubject is the processes of executable comm in one namespace.
type idleSubject struct {
	system, node, role string
	ns, comm           string
}

// procUsage sums /proc/PID/stat over processes.
type procUsage struct {
	ticks    uint64 // utime + stime + cutime + cstime
	rssKB    uint64
	threads  int
	procs    int
	switches uint64 // context switches of all its threads: wake-ups, about
	anonKB   uint64 // RssAnon: the process's own memory, not the binary's pages
}

func (u *procUsage) add(p procUsage) {
	u.ticks += p.ticks
	u.rssKB += p.rssKB
	u.threads += p.threads
	u.switches += p.switches
	u.anonKB += p.anonKB
	u.procs++
}

// usage sums the subject's processes: [0] the agent (or keepalived), [1]
// vigil's crash guard.
func (s idleSubject) usage() [2]procUsage {
	var u [2]procUsage
	for _, pid := range netnsPids(s.ns) {
		// By executable, not comm: the agent starts its crash guard as
		// /proc/self/exe, whose comm is "exe".
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || filepath.Base(exe) != s.comm {
			continue
		}
		p, ok := procUsageOf(pid)
		if !ok {
			continue
		}
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if f := strings.Split(string(argv), "\x00"); len(f) > 1 && f[1] == "guard" {
			u[1].add(p)
		} else {
			u[0].add(p)
		}
	}
	return u
}

// procUsageOf is one process's CPU ticks, memory, threads and context
// switches; false once it is gone.
func procUsageOf(pid int) (procUsage, bool) {
	p, _, ok := readProcStat(pid)
	if ok {
		p.switches = ctxSwitches(pid)
		p.anonKB = statusKB(pid, "RssAnon")
	}
	return p, ok
}

// ctxSwitches sums the voluntary and involuntary context switches of every
// thread of pid.
func ctxSwitches(pid int) uint64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				var x uint64
				if _, err := fmt.Sscan(strings.TrimSpace(v), &x); err == nil {
					n += x
				}
			}
		}
	}
	return n
}

// statusKB reads a "Key: N kB" line of /proc/PID/status.
func statusKB(pid int, key string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			var n uint64
			_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &n)
			return n
		}
	}
	return 0
}

// clkTck is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clkTck = 100

// readProcStat reads a process's CPU ticks, RSS and thread count.
func readProcStat(pid int) (procUsage, string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, "", false
	}
	s := string(raw)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return procUsage{}, "", false
	}
	f := strings.Fields(s[close+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procUsage{}, "", false
	}
	var utime, stime, cutime, cstime, rss uint64
	var threads int
	for _, x := range []struct {
		i int
		p any
	}{{11, &utime}, {12, &stime}, {13, &cutime}, {14, &cstime}, {17, &threads}, {21, &rss}} {
		if _, err := fmt.Sscan(f[x.i], x.p); err != nil {
			return procUsage{}, "", false
		}
	}
	return procUsage{ticks: utime + stime + cutime + cstime, rssKB: rss * uint64(os.Getpagesize()) / 1024,
		threads: threads}, s[open+1 : close], true
}

// Threads is the thread count of a process (0 if it is gone).
func Threads(pid int) int {
	p, _, ok := readProcStat(pid)
	if !ok {
		return 0
	}
	return p.threads
}
