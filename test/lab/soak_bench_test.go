package lab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// BenchmarkSoak looks for false failovers: a healthy pair + witness
// (examples/haproxy-pair's group, preset VIGIL_SOAK_PRESET, default fast,
// with VIGIL_SOAK_TUNING overrides) is left alone for VIGIL_SOAK_DURATION
// (default 10m) while
//
//   - every core is saturated by a busy loop (`sh -c 'while :; do :; done'`,
//     one per core, normal priority, in a lab namespace, killed by pid at
//     the end), competing with the agents for the CPU;
//   - the heartbeat link drops VIGIL_SOAK_LOSS percent (default 5) of the
//     frames, at random, in the lab switch (nftables `numgen random mod 100
//     < 5 drop` on the frames entering the bridge from each hb port);
//   - a client requests the VIP every 10 ms (1 s timeout);
//   - both load balancers have an IPMI fence device (ipmi_sim), as a user
//     of fencing runs them: a node the leader judged failed is powered off,
//     so a false verdict shows as a fence (VIGIL_SOAK_FENCE=0: none).
//
// It prints the group moves (holder changes in the replicated history,
// the status's move counter and changes of the answering node seen by the
// client), raft elections after the first (leader events and term
// increase), node status changes, client gaps over 100 ms, and the
// agents' WARN/ERROR log lines. Pass: zero moves, zero elections and zero
// fences; the benchmark fails otherwise, after printing everything.
//
//	make soak, or: VIGIL_LAB_ID=x VIGIL_SOAK_DURATION=1m go test ./test/lab -run '^$' -bench Soak -benchtime 1x -timeout 0
func BenchmarkSoak(b *testing.B) {
	dur := durationFromEnv(b, "VIGIL_SOAK_DURATION", 10*time.Minute)
	loss := percentFromEnv(b, "VIGIL_SOAK_LOSS", 5)
	preset, label, tuning := benchTiming(b, "VIGIL_SOAK")
	load0 := loadAvg()

	l, client := benchWebLab(b, "vlabsk")
	fenced := os.Getenv("VIGIL_SOAK_FENCE") != "0"
	var c *Cluster
	if fenced {
		c = PrepareFencedCluster(l, FenceSpec{LogLevel: "info", Preset: preset, ClusterExtra: tuning,
			Group: WebGroupHCL(b, l.Dir(), "n1", 3)}).Cluster
	} else {
		c = prepareCluster(l, ClusterSpec{Preset: preset, LogLevel: "info", ClusterExtra: tuning,
			Extra: WebGroupHCL(b, l.Dir(), "n1", 3)}, Vigil(b))
	}
	validateConfigs(b, c)
	for _, n := range c.Nodes {
		c.Start(n.Name)
	}
	for _, n := range []string{"n1", "n2"} {
		EnableNonlocalBind(c.Node(n).Host)
	}
	leader0 := c.WaitHealthy(benchSettle)
	holder0 := waitGroupStarted(b, c, "web", "", benchSettle)
	st0 := soakStatus(b, c, leader0)
	g0, _ := GroupOf(st0, "web")
	hist0 := soakHistory(b, c, leader0)
	logs, logAt := map[string]string{}, map[string]int64{}
	for _, n := range c.Nodes {
		logs[n.Name] = c.Agent(n.Name).Log // a restarted agent appends to it
		logAt[n.Name] = logSize(logs[n.Name])
	}

	// A 1 s timeout, not the failover benches' 20 ms: with every core busy
	// a request often takes longer than 20 ms without anything being wrong;
	// a gap counts from one answer to the next, however late.
	probe := client.Start("soak-probe", LBProbeBin(b), "-url", "http://"+WebVIP+"/", "-header", "X-LB",
		"-interval", "10ms", "-timeout", "1s")
	waitSteady(b, probe, AnsweredBy, holder0, 15*time.Second)
	addHeartbeatLoss(l, c, loss)
	load := l.AddClient("load", "198.18.0.60")
	var busy []*Proc
	for i := range runtime.NumCPU() {
		busy = append(busy, load.Start(fmt.Sprintf("busy%d", i), "sh", "-c", "while :; do :; done"))
	}
	start := time.Now()
	steal := watchSteal(b.Context())
	fmt.Printf("Soak: %v, timing %s, %d%% loss on the heartbeat link, %d busy loops; group on %s, leader %s, term %d; load average %s\n",
		dur, label, loss, len(busy), holder0, leader0, st0.Term, load0)
	for el := time.Minute; el < dur; el += time.Minute {
		time.Sleep(time.Until(start.Add(el)))
		st, err := c.Status(leader0)
		fmt.Printf("soak %v: load average %s; %s\n", el, loadAvg(), soakBrief(st, err))
	}
	time.Sleep(time.Until(start.Add(dur)))
	for _, p := range busy {
		if err := p.Kill(); err != nil {
			b.Errorf("kill busy loop %d: %v", p.Pid, err)
		}
	}
	loadEnd := loadAvg()
	_ = probe.Stop(2 * time.Second)
	dropped, seen := heartbeatLossCounters(b, l)

	// What happened, from the cluster's own record and from the client.
	leader := c.WaitLeader(benchSettle)
	st1 := soakStatus(b, c, leader)
	g1, _ := GroupOf(st1, "web")
	var events, moves, groupEvents, elections, nodeChanges []api.Event
	for _, e := range soakHistory(b, c, leader) {
		if e.Index <= lastIndex(hist0) {
			continue
		}
		events = append(events, e)
		switch {
		case e.Kind == "assign":
			moves = append(moves, e)
		case e.Group != "":
			groupEvents = append(groupEvents, e)
		case e.Kind == "leader":
			elections = append(elections, e)
		case strings.HasPrefix(e.Kind, "node-"):
			nodeChanges = append(nodeChanges, e)
		}
	}
	samples := readSamples(b, probe)
	answerChanges, gaps, failed := clientRecord(samples, start, 100*time.Millisecond)
	warns := map[string]map[string]int{}
	nwarn := 0
	for _, n := range c.Nodes {
		warns[n.Name] = logWarnings(b, logs[n.Name], logAt[n.Name])
		for _, k := range warns[n.Name] {
			nwarn += k
		}
	}

	var t strings.Builder
	fmt.Fprintf(&t, "\nsoak of %v, timing %s, %d busy loops (one per core), %d%% random loss on the heartbeat link (%d of %d frames dropped)\n",
		dur, label, len(busy), loss, dropped, seen)
	fmt.Fprintf(&t, "load average at start %s, at the end of the load %s\n", load0, loadEnd)
	fmt.Fprintf(&t, "hypervisor steal time during the soak: %s\n", steal())
	fmt.Fprintf(&t, "group moves (assignments in the history): %d; status move counter %d -> %d; group on %s -> %s (%s); other group events: %d\n",
		len(moves), g0.Moves, g1.Moves, holder0, g1.Node, g1.State, len(groupEvents))
	fmt.Fprintf(&t, "raft elections after the first: %d leader events; term %d -> %d; leader %s -> %s\n",
		len(elections), st0.Term, st1.Term, leader0, leader)
	fmt.Fprintf(&t, "node status changes: %d\n", len(nodeChanges))
	fences := st1.Fencing[min(len(st0.Fencing), len(st1.Fencing)):]
	if fenced {
		fmt.Fprintf(&t, "fences (IPMI devices on both load balancers): %d\n", len(fences))
		for _, f := range fences {
			fmt.Fprintf(&t, "  %s %s via %s: %s\n", f.Time.Format("15:04:05.000"), f.Target, f.Device, f.Reason)
		}
	} else {
		t.WriteString("fences: none configured (VIGIL_SOAK_FENCE=0)\n")
	}
	for i, e := range events {
		if i == 40 {
			fmt.Fprintf(&t, "  ... %d more events\n", len(events)-i)
			break
		}
		fmt.Fprintf(&t, "  %s %-16s %s\n", e.Time.Format("15:04:05.000"), e.Kind, e.Message)
	}
	fmt.Fprintf(&t, "client (request every 10 ms, 1 s timeout): %d requests, %d failed, %d changes of the answering node, %d gaps > 100 ms", len(samples), failed, answerChanges, len(gaps))
	if len(gaps) > 0 {
		sort.Slice(gaps, func(i, j int) bool { return gaps[i].took > gaps[j].took })
		fmt.Fprintf(&t, " (longest %v at %s)", gaps[0].took.Round(time.Millisecond), gaps[0].at.Format("15:04:05.000"))
	}
	fmt.Fprintf(&t, "\nagents' warnings (WARN/ERROR log lines): %d\n", nwarn)
	for _, n := range c.Nodes {
		for _, w := range topWarnings(warns[n.Name], 5) {
			fmt.Fprintf(&t, "  %s: %s\n", n.Name, w)
		}
	}
	elected := len(elections) > 0 || st1.Term != st0.Term
	moved := len(moves) > 0 || g1.Moves != g0.Moves || g1.Node != holder0 || answerChanges > 0
	fmt.Fprintf(&t, "issue 12 goal 6 (zero moves, zero elections after the first, zero fences): %s\n",
		goalVerdict(!elected && !moved && len(fences) == 0))
	fmt.Print(t.String())
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(moves)), "moves")
	b.ReportMetric(float64(st1.Term-st0.Term), "terms")
	b.ReportMetric(float64(len(gaps)), "client-gaps-over-100ms")
	if elected || moved || len(fences) > 0 {
		b.Errorf("false failover under load: %d moves, %d elections (term %d -> %d), %d fences",
			len(moves), len(elections), st0.Term, st1.Term, len(fences))
	}
}

// durationFromEnv is the positive duration in env, or def when unset.
func durationFromEnv(tb testing.TB, env string, def time.Duration) time.Duration {
	tb.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration such as 10m or 90s", env, v)
	}
	return d
}

// percentFromEnv is the integer percentage 0..100 in env, or def when unset.
func percentFromEnv(tb testing.TB, env string, def int) int {
	tb.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		tb.Fatalf("%s=%q: want a whole percentage from 0 to 100", env, v)
	}
	return n
}

const lossTable = "vlabloss"

// addHeartbeatLoss drops pct percent of the frames that enter the heartbeat
// bridge from any cluster node, at random, in the switch namespace. The
// first rule counts every such frame, the second the dropped ones.
func addHeartbeatLoss(l *Lab, c *Cluster, pct int) {
	l.tb.Helper()
	var ports []string
	for _, n := range c.Nodes {
		ports = append(ports, strconv.Quote(n.Host.port(HB)))
	}
	set := "{ " + strings.Join(ports, ", ") + " }"
	l.nftRun(fmt.Sprintf(`add table bridge %[1]s
add chain bridge %[1]s loss { type filter hook forward priority -10; policy accept; }
add rule bridge %[1]s loss iifname %[2]s counter
add rule bridge %[1]s loss iifname %[2]s numgen random mod 100 < %[3]d counter drop
`, lossTable, set, pct))
}

var nftCounter = regexp.MustCompile(`counter packets (\d+) bytes`)

// heartbeatLossCounters reads the loss chain's counters: frames dropped and
// frames seen.
func heartbeatLossCounters(tb testing.TB, l *Lab) (dropped, seen int) {
	tb.Helper()
	out, err := run("ip", "netns", "exec", l.SwitchNS(), "nft", "list", "chain", "bridge", lossTable, "loss")
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	m := nftCounter.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		tb.Fatalf("lab: want two counters in the loss chain:\n%s", out)
	}
	seen, _ = strconv.Atoi(m[0][1])
	dropped, _ = strconv.Atoi(m[1][1])
	return dropped, seen
}

func soakStatus(tb testing.TB, c *Cluster, node string) api.Status {
	tb.Helper()
	st, err := c.Status(node)
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	return st
}

// soakHistory is the replicated event history (the last 1000 events).
func soakHistory(tb testing.TB, c *Cluster, node string) []api.Event {
	tb.Helper()
	out, err := c.CLI(node, "history", "-json", "-n", "1000")
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	var ev []api.Event
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		tb.Fatalf("lab: history -json: %v", err)
	}
	return ev
}

func lastIndex(ev []api.Event) uint64 {
	if len(ev) == 0 {
		return 0
	}
	return ev[len(ev)-1].Index
}

func soakBrief(st api.Status, err error) string {
	if err != nil {
		return "status: " + err.Error()
	}
	g, _ := GroupOf(st, "web")
	return fmt.Sprintf("leader %s, term %d, web %s on %s, %d moves, %d warnings", st.Leader, st.Term, g.State, g.Node, g.Moves, len(st.Warnings))
}

type clientGap struct {
	at   time.Time
	took time.Duration
}

// clientRecord reads the client's samples from start on: how often the
// answering node changed, the gaps longer than limit between successful
// answers, and the failed requests.
func clientRecord(samples []Sample, start time.Time, limit time.Duration) (changes int, gaps []clientGap, failed int) {
	var last Sample
	for _, s := range samples {
		if s.Time.Before(start) {
			continue
		}
		if !s.OK {
			failed++
			continue
		}
		if last.OK {
			if AnsweredBy(s) != AnsweredBy(last) {
				changes++
			}
			if d := s.Time.Sub(last.Time); d > limit {
				gaps = append(gaps, clientGap{at: last.Time, took: d})
			}
		}
		last = s
	}
	return changes, gaps, failed
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logLevel finds hclog's level tag: "2026-11-29T16:45:11.123Z [WARN]  name: msg: k=v".
var logLevel = regexp.MustCompile(`\[(WARN|ERROR)\]\s+(.*)$`)

// logWarnings counts an agent log's WARN and ERROR lines from offset on,
// by kind (warningKind).
func logWarnings(tb testing.TB, path string, offset int64) map[string]int {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		tb.Fatalf("lab: %v", err)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := logLevel.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		out[m[1]+" "+warningKind(m[2])]++
	}
	return out
}

var (
	logFields = regexp.MustCompile(`\s[a-z][a-z0-9_-]*=`) // where the key=value part starts
	logDigits = regexp.MustCompile(`\b[0-9]+`)
)

// warningKind is a log message without its key=value part, numbers
// (addresses, ports, durations) replaced by N, so that one kind of
// warning counts as one.
func warningKind(msg string) string {
	if i := logFields.FindStringIndex(msg); i != nil {
		msg = msg[:i[0]]
	}
	msg = logDigits.ReplaceAllString(strings.TrimRight(msg, ": "), "N")
	if len(msg) > 140 {
		msg = msg[:140] + "..."
	}
	return msg
}

// topWarnings lists the n most frequent warnings as "COUNT x TEXT".
func topWarnings(w map[string]int, n int) []string {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if w[keys[i]] != w[keys[j]] {
			return w[keys[i]] > w[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var out []string
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, fmt.Sprintf("%d x %s", w[k], k))
	}
	return out
}
