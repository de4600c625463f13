package lab

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// scaleFirst is the first of the bench's floating addresses: 198.18.2.1
// onwards, /23 on eth0 (the client reaches them on-link by a route).
const scaleFirst = "198.18.2.1"

// BenchmarkManyAddresses measures a group of 256 floating addresses (ipaddr
// resources) at the fast preset: from `vigil node standby` of the node
// running it, and from a power-off of that node, until every one of the
// 256 addresses answers from the other node (a client asks each of them
// over UDP every 20 ms; test/lab/cmd/vipcheck), and the thread count of
// each agent before and after; and, beside it, keepalived (advert_int 1)
// with the same 256 addresses in its virtual_ipaddress: power-off of the
// master and a clean stop. At least 3 runs of each (b.N), min / median /
// max.
//
//	VIGIL_BENCH=1 go test ./test/lab -run '^$' -bench ManyAddresses -benchtime 1x
func BenchmarkManyAddresses(b *testing.B) {
	if os.Getenv("VIGIL_BENCH") == "" {
		b.Skip("lab bench: set VIGIL_BENCH=1 (make bench)")
	}
	const n = 256
	runs := max(b.N, 3)
	l := New(b, "vlabscale")
	client := l.AddClient("client", "198.18.0.50")
	if _, err := client.Run("ip", "route", "add", "198.18.2.0/23", "dev", "eth0"); err != nil {
		b.Fatal(err)
	}
	c := StartCluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: manyAddressesHCL(n)})
	const settle = 60 * time.Second
	c.WaitHealthy(settle)
	threads := func(when string) {
		var parts []string
		for _, name := range []string{"n1", "n2"} {
			if p := c.Agent(name); p != nil {
				parts = append(parts, fmt.Sprintf("%s %d", name, Threads(p.Pid)))
			}
		}
		fmt.Printf("agent threads %s: %s\n", when, strings.Join(parts, ", "))
	}
	threads("once the cluster is healthy (the group starting or up)")
	bin := Build(b, "./test/lab/cmd/vipcheck")
	serve := func(name string) {
		c.Node(name).Host.Start("vipcheck", bin, "serve", "-port", "7999", "-name", name)
	}
	serve("n1")
	serve("n2")
	probe := client.Start("vipcheck-probe", bin, "probe", "-port", "7999", "-first", scaleFirst,
		"-count", fmt.Sprint(n), "-interval", "20ms", "-retry", "5ms")
	from := waitGroupStarted(b, c, "many", "", settle)
	waitAnswering(b, probe.Log, n, from, time.Time{}, 30*time.Second)
	threads("with the group's 256 addresses up")
	other := map[string]string{"n1": "n2", "n2": "n1"}

	var standby, off []time.Duration
	for i := range runs {
		from := waitGroupStarted(b, c, "many", "", settle)
		to := other[from]
		cl, err := c.API(to)
		if err != nil {
			b.Fatal(err)
		}
		at := time.Now()
		if err := cl.Standby(context.Background(), from, true); err != nil {
			b.Fatalf("standby %s through %s's API: %v", from, to, err)
		}
		d := waitAnswering(b, probe.Log, n, to, at, 30*time.Second)
		standby = append(standby, d)
		fmt.Printf("standby run %d: %s -> %s: all %d answer from %s after %v (standby at %s)\n", i, from, to, n, to,
			d.Round(time.Millisecond), at.Format("15:04:05.000"))
		if i == 0 {
			out, _ := c.CLI(to, "history")
			fmt.Printf("  history on %s:\n%s\n", to, lastLines(out, 6))
		}
		foCLI(b, c, to, "node", "online", from)
		c.WaitHealthy(settle)
		threads(fmt.Sprintf("after standby run %d", i))
	}
	for i := range runs {
		from := waitGroupStarted(b, c, "many", "", settle)
		to := other[from]
		leader := c.WaitHealthy(settle)
		at := time.Now()
		c.PowerOff(from)
		d := waitAnswering(b, probe.Log, n, to, at, 30*time.Second)
		off = append(off, d)
		fmt.Printf("power-off run %d: %s (leader: %v) -> %s: all %d answer from %s after %v\n", i, from, leader == from, to, n, to, d.Round(time.Millisecond))
		c.PowerOn(from)
		serve(from)
		c.WaitHealthy(settle)
		threads(fmt.Sprintf("after power-off run %d", i))
	}
	kaOff, kaStop := benchKeepalivedMany(b, n, runs)
	var t strings.Builder
	fmt.Fprintf(&t, "%d addresses until all answer from the other node (%d runs each; load average %s):\n", n, runs, loadAvg())
	for _, r := range []struct {
		name string
		took []time.Duration
	}{{"vigil fast: standby of the active node", standby}, {"vigil fast: power-off of the active node", off},
		{"keepalived advert 1: clean stop of the master", kaStop}, {"keepalived advert 1: power-off of the master", kaOff}} {
		lo, med, hi := spread(r.took)
		fmt.Fprintf(&t, "  %-46s min %s / median %s / max %s\n", r.name, secs(lo), secs(med), secs(hi))
	}
	fmt.Fprintf(&t, "targets (issue 12): standby <= 0.100 s, power-off <= 0.500 s, agent threads <= 16\n")
	fmt.Print(t.String())
	_, med, _ := spread(standby)
	b.ReportMetric(float64(med)/float64(time.Millisecond), "standby-median-ms")
	_, med, _ = spread(off)
	b.ReportMetric(float64(med)/float64(time.Millisecond), "poweroff-median-ms")
	b.ReportMetric(0, "ns/op")
}

// benchKeepalivedMany measures keepalived (VRRP v3, advert_int 1) moving
// WebVIP and n addresses from scaleFirst: power-off of the master and a
// clean stop of its keepalived, until all n answer from the backup.
func benchKeepalivedMany(b *testing.B, n, runs int) (off, stop []time.Duration) {
	l := New(b, "vlabscaleka")
	client := l.AddClient("client", "198.18.0.50")
	if _, err := client.Run("ip", "route", "add", "198.18.2.0/23", "dev", "eth0"); err != nil {
		b.Fatal(err)
	}
	var more []string
	a := netip.MustParseAddr(scaleFirst)
	for range n {
		more = append(more, a.String()+"/23")
		a = a.Next()
	}
	k := StartKeepalivedPairWith(l, "1", more)
	bin := Build(b, "./test/lab/cmd/vipcheck")
	serve := func(name string) {
		k.Hosts[name].Start("vipcheck", bin, "serve", "-port", "7999", "-name", name)
	}
	serve("n1")
	serve("n2")
	probe := client.Start("vipcheck-probe", bin, "probe", "-port", "7999", "-first", scaleFirst,
		"-count", fmt.Sprint(n), "-interval", "20ms", "-retry", "5ms")
	steady := func() {
		k.WaitMaster("n1", 30*time.Second)
		waitAnswering(b, probe.Log, n, "n1", time.Time{}, 30*time.Second)
	}
	for i := range runs {
		steady()
		at := time.Now()
		k.PowerOff("n1")
		d := waitAnswering(b, probe.Log, n, "n2", at, 30*time.Second)
		off = append(off, d)
		fmt.Printf("keepalived power-off run %d: all %d answer from n2 after %v\n", i, n, d.Round(time.Millisecond))
		k.PowerOn("n1") // n1 preempts
		serve("n1")
	}
	for i := range runs {
		steady()
		at := time.Now()
		k.StopKeepalived("n1")
		d := waitAnswering(b, probe.Log, n, "n2", at, 30*time.Second)
		stop = append(stop, d)
		fmt.Printf("keepalived clean stop run %d: all %d answer from n2 after %v\n", i, n, d.Round(time.Millisecond))
		k.StartKeepalived("n1")
	}
	return off, stop
}

// manyAddressesHCL is group "many": n ipaddr resources from scaleFirst.
func manyAddressesHCL(n int) string {
	var b strings.Builder
	b.WriteString("group \"many\" {\n  prefer   = \"n1\"\n  failback = false\n")
	a := netip.MustParseAddr(scaleFirst)
	for i := range n {
		fmt.Fprintf(&b, "  resource \"ipaddr\" \"a%d\" {\n    address   = \"%s/23\"\n    interface = \"eth0\"\n  }\n", i, a)
		a = a.Next()
	}
	b.WriteString("}\n")
	return b.String()
}

// waitAnswering waits until all n addresses answer from node in the
// probe's log and returns the time from since until the last of them
// switched to it (since zero: just wait).
func waitAnswering(b *testing.B, log string, n int, node string, since time.Time, timeout time.Duration) time.Duration {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last, switched, err := answering(log, since)
		if err != nil {
			b.Fatal(err)
		}
		all := 0
		var latest time.Time
		for addr, name := range last {
			if name == node {
				all++
				if switched[addr].After(latest) {
					latest = switched[addr]
				}
			}
		}
		if all == n {
			if since.IsZero() {
				return 0
			}
			return latest.Sub(since)
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d addresses answer from %s %v after the action (probe log %s)", all, n, node, timeout, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answering reads the probe log: each address's current answer and when it
// changed to that (changes before since count as at since).
func answering(log string, since time.Time) (map[string]string, map[string]time.Time, error) {
	f, err := os.Open(log)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	last, at := map[string]string{}, map[string]time.Time{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ns int64
		var addr, name string
		if _, err := fmt.Sscan(sc.Text(), &ns, &addr, &name); err != nil {
			continue // the log's start banner
		}
		if last[addr] == name {
			continue
		}
		last[addr] = name
		t := time.Unix(0, ns)
		if t.Before(since) {
			t = since
		}
		at[addr] = t
	}
	return last, at, sc.Err()
}
