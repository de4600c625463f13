package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The harness tests use plain processes (sleep, sh, the hello server and the
// prober), not vigil.

func TestHostsReachEachOtherOnBothLinks(t *testing.T) {
	l := New(t, "vlabh")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")
	c := l.AddClient("client", "198.18.0.50")

	for _, pair := range [][2]any{{n1, "198.18.0.12"}, {n1, "198.18.1.12"}, {n2, "198.18.1.11"}, {c, "198.18.0.11"}} {
		h, ip := pair[0].(*Host), pair[1].(string)
		if !h.Reach(ip) {
			t.Errorf("%s cannot reach %s", h.Name(), ip)
		}
	}
	if c.Reach("198.18.1.11") {
		t.Error("the client reaches the heartbeat link; it must be on pub only")
	}
	out, err := n1.Run("ip", "-o", "link", "show", "eth1")
	if err != nil || !strings.Contains(out, "02:18:c6:12:01:0b") {
		t.Errorf("eth1 of n1 should carry the pinned MAC 02:18:c6:12:01:0b: %v %s", err, out)
	}
	// Nothing of the lab leaks into the root namespace.
	if out, _ := exec.Command("ip", "-o", "link").Output(); strings.Contains(string(out), "n1-pub") {
		t.Errorf("a lab veth is in the root namespace:\n%s", out)
	}
}

func TestPowerOffKillsEverythingAndRemovesAddresses(t *testing.T) {
	l := New(t, "vlabp")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")

	direct := n1.Start("sleep", "sleep", "1000")
	// A grandchild the harness did not start: power loss must kill it too.
	n1.Start("forker", "sh", "-c", "sleep 1000 & sleep 1000; wait")
	if _, err := n1.Run("ip", "addr", "add", "198.18.0.100/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 processes in n1 (sleep, sh and its two sleeps)", func() bool { return len(netnsPids(n1.NS())) == 4 })

	n1.PowerOff()
	if err := direct.WaitTimeout(2 * time.Second); err == nil {
		t.Error("sleep exited cleanly; it should have been killed")
	}
	if pids := netnsPids(n1.NS()); len(pids) != 0 {
		t.Errorf("processes survive power-off: %v", pids)
	}
	for _, a := range []string{"198.18.0.100", "198.18.0.11/24", "198.18.1.11"} {
		if n1.HasAddr(a) {
			t.Errorf("n1 still holds %s after power-off", a)
		}
	}
	if n2.Reach("198.18.0.11") {
		t.Error("n2 still reaches powered-off n1")
	}

	n1.PowerOn()
	if !n1.HasAddr("198.18.0.11/24") || !n1.HasAddr("198.18.1.11/24") || n1.HasAddr("198.18.0.100") {
		t.Error("power-on must restore the configured addresses and only those")
	}
	if !n2.Reach("198.18.0.11") || !n2.Reach("198.18.1.11") {
		t.Error("n2 cannot reach n1 after power-on")
	}
}

// A power loss sends nothing: a peer holding a TCP connection to the host
// must see it stay established (no FIN, no RST), as with a real power cut.
// Killing the processes before pulling the cables let the kernel close the
// sockets and tell the peers at once.
func TestPowerOffSendsNoFINOrRST(t *testing.T) {
	l := New(t, "vlabf")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")
	n3 := l.AddHost("n3", "198.18.0.13", "198.18.1.13")
	n1.Start("hello", HelloBin(t), "-listen", ":8080", "-body", "n1")
	waitFor(t, "hello listening on n1", func() bool { return n2.Reach("198.18.0.11") && portOpen(n1, "8080") })
	// An HTTP/1.1 keep-alive connection the server keeps open.
	n2.Start("client", "bash", "-c", `exec 3<>/dev/tcp/198.18.0.11/8080; printf 'GET / HTTP/1.1\r\nHost: n1\r\n\r\n' >&3; exec sleep 1000`)
	established := func() string {
		out, _ := n2.Run("ss", "-tnH", "state", "all", "dst", "198.18.0.11")
		return strings.TrimSpace(out)
	}
	waitFor(t, "n2's connection to n1 established", func() bool { return strings.HasPrefix(established(), "ESTAB") })

	n1.PowerOff()
	// A round trip through the same switch after the power-off: anything n1
	// sent while dying has been delivered by the time it returns.
	if !n2.Reach("198.18.0.13") || !n3.Reach("198.18.0.12") {
		t.Fatal("n2 and n3 cannot reach each other")
	}
	if st := established(); !strings.HasPrefix(st, "ESTAB") {
		t.Fatalf("n2's connection to powered-off n1 is %q; a power loss must send no FIN/RST", st)
	}
}

func portOpen(h *Host, port string) bool {
	out, _ := h.Run("ss", "-tlnH", "sport", "= :"+port)
	return strings.TrimSpace(out) != ""
}

func TestPartitionAndLinkDown(t *testing.T) {
	l := New(t, "vlabn")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")
	w := l.AddHost("w", "198.18.0.13", "198.18.1.13")

	l.Partition(HB, n1, n2)
	if n1.Reach("198.18.1.12") || n2.Reach("198.18.1.11") {
		t.Error("n1 and n2 still reach each other on hb across the partition")
	}
	if !n1.Reach("198.18.0.12") || !w.Reach("198.18.1.11") || !w.Reach("198.18.1.12") {
		t.Error("the partition cut more than n1<->n2 on hb")
	}
	out, _ := n1.Run("ip", "-o", "link", "show", "eth1")
	if strings.Contains(out, "NO-CARRIER") {
		t.Errorf("a partition must be silent, n1 sees %s", out)
	}
	l.Partition(Pub, w, nil)
	if n1.Reach("198.18.0.13") || !n1.Reach("198.18.1.13") {
		t.Error("isolating w on pub should cut exactly w's pub port")
	}
	l.Heal()
	if !n1.Reach("198.18.1.12") || !n1.Reach("198.18.0.13") {
		t.Error("Heal did not restore traffic")
	}

	l.LinkDown(n2, HB)
	waitFor(t, "n2 eth1 NO-CARRIER", func() bool {
		out, _ := n2.Run("ip", "-o", "link", "show", "eth1")
		return strings.Contains(out, "NO-CARRIER")
	})
	if n1.Reach("198.18.1.12") || !n1.Reach("198.18.0.12") {
		t.Error("LinkDown hb of n2 should cut hb only")
	}
	l.LinkUp(n2, HB)
	waitFor(t, "n1 reaches n2 on hb again", func() bool { return n1.Reach("198.18.1.12") })
}

// TestProbeMeasuresAMove moves a VIP between two hello servers with a
// gratuitous ARP while the prober runs, and checks what the prober, ReadProbe,
// Downtime and SampleHolders report.
func TestProbeMeasuresAMove(t *testing.T) {
	l := New(t, "vlabv")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")
	c := l.AddClient("client", "198.18.0.50")
	const vip = "198.18.0.100"
	hello := HelloBin(t)
	web1 := n1.Start("hello", hello, "-listen", ":8080", "-body", "n1")
	n2.Start("hello", hello, "-listen", ":8080", "-body", "n2")
	addVIP(t, n1)

	holders := SampleHolders([]*Host{n1, n2}, vip, 5*time.Millisecond)
	probe := c.StartProbe("probe", "http://"+vip+":8080/")
	waitFor(t, "the prober sees n1", func() bool { return probeSaw(probe.Log, "n1") })

	// A hung server: requests time out, the process is still there.
	n1.Freeze(web1)
	time.Sleep(200 * time.Millisecond)
	n1.Thaw(web1)
	waitFor(t, "n1 answers after thaw", func() bool { return lastOK(probe.Log) == "n1" })

	// A clean move, delete first then add, with a gratuitous ARP.
	moveStart := time.Now()
	if _, err := n1.Run("ip", "addr", "del", vip+"/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	addVIP(t, n2)
	waitFor(t, "the prober sees n2", func() bool { return lastOK(probe.Log) == "n2" })
	moveTook := time.Since(moveStart)
	// The sampler's pace depends on the machine's load: wait for enough
	// samples rather than for a fixed time.
	waitFor(t, "10 holder samples", func() bool { return len(holders.Samples()) >= 10 })
	if err := probe.Stop(2 * time.Second); err != nil {
		t.Errorf("prober did not stop cleanly: %v", err)
	}
	holders.Stop()

	samples, err := ReadProbe(probe.Log)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) < 20 {
		t.Fatalf("only %d probe samples", len(samples))
	}
	var timeouts int
	for _, s := range samples {
		if !s.OK {
			timeouts++
		}
	}
	if timeouts == 0 {
		t.Error("freezing the server for 200ms produced no failed probe")
	}
	d := Downtime(samples, "n1", "n2")
	if d <= 0 || d > moveTook+50*time.Millisecond {
		t.Errorf("downtime %v, the move took %v", d, moveTook)
	}
	t.Logf("move: downtime %v, %d samples, %d holder samples", d, len(samples), len(holders.Samples()))
	if Downtime(samples, "n2", "n1") != -1 {
		t.Error("Downtime from n2 back to n1 must be -1: it never happened")
	}
	if m := holders.MaxHolders(); m != 1 {
		t.Errorf("max simultaneous VIP holders %d, want 1 for a delete-then-add move", m)
	}
	if len(holders.Samples()) < 10 {
		t.Errorf("only %d holder samples", len(holders.Samples()))
	}
}

// TestHoldersSeesOverlap checks the sampler does report two holders.
func TestHoldersSeesOverlap(t *testing.T) {
	l := New(t, "vlabo")
	n1 := l.AddHost("n1", "198.18.0.11", "198.18.1.11")
	n2 := l.AddHost("n2", "198.18.0.12", "198.18.1.12")
	holders := SampleHolders([]*Host{n1, n2}, "198.18.0.100", 5*time.Millisecond)
	addVIP(t, n1)
	addVIP(t, n2)
	// Both hold it from here on: the sampler must report it within seconds.
	waitFor(t, "a sample with both hosts holding the VIP", func() bool { return holders.MaxHolders() == 2 })
	holders.Stop()
}

func TestStaleNamespacesAreRemoved(t *testing.T) {
	Require(t)
	stale := "vlabs" + os.Getenv("VIGIL_LAB_ID") + "-n9" // New appends VIGIL_LAB_ID to the prefix
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	New(t, "vlabs")
	for _, ns := range listNetns() {
		if ns == stale {
			exec.Command("ip", "netns", "del", stale).Run()
			t.Fatal("New left a stale namespace of its prefix in place")
		}
	}
}

func TestReadProbeAndDowntime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "probe.log")
	log := "==== banner line\n" +
		"1000000000 ok n1\n" +
		"1030000000 ok n1\n" +
		"1010000000 ok n1\n" + // out of order: sorted on read
		"1040000000 err context deadline exceeded (Client.Timeout exceeded while awaiting headers)\n" +
		"1250000000 ok n2\n" +
		"1260000000 ok n2\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ReadProbe(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 6 || s[2].Body != "n1" || s[2].Time.UnixNano() != 1030000000 || s[3].OK {
		t.Fatalf("parsed %+v", s)
	}
	if !strings.HasPrefix(s[3].Body, "context deadline") {
		t.Errorf("error text %q", s[3].Body)
	}
	if d := Downtime(s, "n1", "n2"); d != 220*time.Millisecond {
		t.Errorf("downtime %v, want 220ms", d)
	}
	if d := Downtime(s, "n1", "n3"); d != -1 {
		t.Errorf("downtime to a body never seen %v, want -1", d)
	}
}

func addVIP(t *testing.T, h *Host) {
	t.Helper()
	if _, err := h.Run("ip", "addr", "add", "198.18.0.100/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := h.GARP("eth0", "198.18.0.100"); err != nil {
		t.Fatal(err)
	}
}

func probeSaw(path, body string) bool {
	s, _ := ReadProbe(path)
	for _, x := range s {
		if x.OK && x.Body == body {
			return true
		}
	}
	return false
}

func lastOK(path string) string {
	s, _ := ReadProbe(path)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].OK {
			return s[i].Body
		}
	}
	return ""
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHoldersAbsent: Absent finds samples without a holder in its window and
// sums the time between consecutive ones.
func TestHoldersAbsent(t *testing.T) {
	t0 := time.Now()
	at := func(ms int, hosts ...string) HolderSample {
		return HolderSample{Time: t0.Add(time.Duration(ms) * time.Millisecond), Hosts: hosts}
	}
	hs := &Holders{samples: []HolderSample{at(0), at(10, "n1"), at(20), at(30), at(40), at(50, "n1"), at(60), at(70)}}
	if missing, gap := hs.Absent(t0, time.Time{}); !missing || gap != 30*time.Millisecond {
		t.Errorf("after t0: missing %v, gap %v; want true, 30ms", missing, gap)
	}
	if missing, gap := hs.Absent(t0.Add(15*time.Millisecond), t0.Add(35*time.Millisecond)); !missing || gap != 10*time.Millisecond {
		t.Errorf("15-35 ms: missing %v, gap %v; want true, 10ms", missing, gap)
	}
	if missing, _ := hs.Absent(t0.Add(-5*time.Millisecond), t0.Add(15*time.Millisecond)); !missing {
		t.Error("-5-15 ms: the sample at 0 was missed")
	}
	if missing, _ := hs.Absent(t0.Add(5*time.Millisecond), t0.Add(15*time.Millisecond)); missing {
		t.Error("5-15 ms: missing, but the one sample there has a holder")
	}
}
