package ipaddr

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/resources"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantState(t *testing.T, ag resources.Agent, want resources.State) {
	t.Helper()
	st, err := ag.Monitor(ctxT(t))
	if st != want || (want != resources.Failed && err != nil) {
		t.Fatalf("monitor = %v, %v; want %v", st, err, want)
	}
}

// TestFailoverMovesNeighbourEntry is the point of the package: after the
// address moves from a to b, a peer that sends nothing learns b's MAC from
// b's announcements alone (without them it would keep a's for ~30 s).
func TestFailoverMovesNeighbourEntry(t *testing.T) {
	for _, tc := range []struct{ name, cidr string }{
		{"ipv4", "198.18.0.100/24"},
		{"ipv6", "2001:2:0:18::100/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t)
			vip := netip.MustParsePrefix(tc.cidr).Addr()
			onA := agentIn(t, l.a, map[string]string{"address": tc.cidr})
			onB := agentIn(t, l.b, map[string]string{"address": tc.cidr})

			wantState(t, onA, resources.Stopped)
			if err := onA.Start(ctxT(t)); err != nil {
				t.Fatalf("start on a: %v", err)
			}
			wantState(t, onA, resources.Running)
			poke(t, l.peer, vip) // the peer talks to the VIP and caches a's MAC
			waitNeigh(t, l.peer, vip, l.macA, 3*time.Second)

			var switches []time.Duration
			from, to := onA, onB
			fromNS, toNS, toMAC := l.a, l.b, l.macB
			for range 3 {
				if err := from.Stop(ctxT(t)); err != nil {
					t.Fatalf("stop on %s: %v", fromNS, err)
				}
				begin := time.Now()
				if err := to.Start(ctxT(t)); err != nil {
					t.Fatalf("start on %s: %v", toNS, err)
				}
				startTook := time.Since(begin)
				switched := waitNeigh(t, l.peer, vip, toMAC, 5*time.Second) + startTook
				switches = append(switches, switched)
				t.Logf("%s: Start returned after %v, peer switched to %s after %v", tc.name, startTook, toMAC, switched)
				if n := len(addrsOn(t, fromNS, vip)); n != 0 {
					t.Fatalf("address still on %s after Stop (%d entries)", fromNS, n)
				}
				wantState(t, from, resources.Stopped)
				wantState(t, to, resources.Running)
				from, to = to, from
				fromNS, toNS = toNS, fromNS
				if toMAC.String() == l.macB.String() {
					toMAC = l.macA
				} else {
					toMAC = l.macB
				}
			}
			slices.Sort(switches)
			t.Logf("%s: peer neighbour switch min/median/max %v / %v / %v", tc.name, switches[0], switches[1], switches[2])
			if err := from.Stop(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIPv6AddressUsableAtOnce(t *testing.T) {
	l := newLab(t)
	ag := agentIn(t, l.a, map[string]string{"address": "2001:2:0:18::200/64"})
	vip := netip.MustParseAddr("2001:2:0:18::200")
	if err := ag.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	addrs := addrsOn(t, l.a, vip)
	if len(addrs) != 1 {
		t.Fatalf("got %d entries for %s", len(addrs), vip)
	}
	if f := addrs[0].Flags; f&unix.IFA_F_TENTATIVE != 0 || f&unix.IFA_F_NODAD == 0 {
		t.Fatalf("flags %#x: want NODAD and not tentative", f)
	}
	// Binding fails with EADDRNOTAVAIL while an address is tentative.
	err := runInNS(nsPath(l.a), func() error {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: vip.AsSlice(), Port: 5000})
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("bind to the new address right after Start: %v", err)
	}
}

func TestIdempotentStartStop(t *testing.T) {
	l := newLab(t)
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.50/24"})
	vip := netip.MustParseAddr("198.18.0.50")
	for i := range 2 {
		if err := ag.Start(ctxT(t)); err != nil {
			t.Fatalf("start #%d: %v", i+1, err)
		}
	}
	if n := len(addrsOn(t, l.a, vip)); n != 1 {
		t.Fatalf("%d entries after two starts, want 1", n)
	}
	wantState(t, ag, resources.Running)
	for i := range 2 {
		if err := ag.Stop(ctxT(t)); err != nil {
			t.Fatalf("stop #%d: %v", i+1, err)
		}
	}
	wantState(t, ag, resources.Stopped)

	// Someone re-adds the IP with another prefix length: Stop still clears it.
	ipCmd(t, "-n", l.a, "addr", "add", "198.18.0.50/32", "dev", "eth0")
	wantState(t, ag, resources.Running)
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(addrsOn(t, l.a, vip)); n != 0 {
		t.Fatalf("%d entries left after Stop", n)
	}
}

func TestMissingInterface(t *testing.T) {
	l := newLab(t)
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.60/24", "interface": "nosuch0"})
	err := ag.Start(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), `interface "nosuch0" does not exist`) {
		t.Fatalf("start err = %v", err)
	}
	st, err := ag.Monitor(ctxT(t))
	if st != resources.Failed || err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("monitor = %v, %v; want failed with a clear error", st, err)
	}
	// No interface means no address here: stopping is done.
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// arpWatcher counts gratuitous ARPs for vip seen by the peer.
func arpWatcher(t *testing.T, ns string, vip netip.Addr) func(window time.Duration) []*arp.Packet {
	t.Helper()
	var c *arp.Client
	err := runInNS(nsPath(ns), func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func(window time.Duration) []*arp.Packet {
		var got []*arp.Packet
		end := time.Now().Add(window)
		_ = c.SetReadDeadline(end)
		for time.Now().Before(end) {
			p, _, err := c.Read()
			if err != nil {
				break
			}
			if p.SenderIP == vip && p.TargetIP == vip {
				got = append(got, p)
			}
		}
		return got
	}
}

func TestBurstCountAndForms(t *testing.T) {
	l := newLab(t)
	vip := netip.MustParseAddr("198.18.0.70")
	watch := arpWatcher(t, l.peer, vip)
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.70/24", "garp_count": "3", "garp_interval": "50ms"})
	if err := ag.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got := watch(600 * time.Millisecond)
	var req, rep int
	for _, p := range got {
		if p.SenderHardwareAddr.String() != l.macA.String() {
			t.Fatalf("announcement with sender MAC %v", p.SenderHardwareAddr)
		}
		switch p.Operation {
		case arp.OperationRequest:
			req++
		case arp.OperationReply:
			rep++
		}
	}
	if req != 3 || rep != 3 {
		t.Fatalf("peer saw %d requests and %d replies, want 3 of each", req, rep)
	}
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestStopCancelsBurst(t *testing.T) {
	l := newLab(t)
	vip := netip.MustParseAddr("198.18.0.80")
	watch := arpWatcher(t, l.peer, vip)
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.80/24", "garp_count": "100", "garp_interval": "20ms"})
	if err := ag.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(watch(100 * time.Millisecond)); n < 2 {
		t.Fatalf("saw %d announcements while running", n)
	}
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Drain what was already in flight, then nothing may follow.
	watch(10 * time.Millisecond)
	if n := len(watch(300 * time.Millisecond)); n != 0 {
		t.Fatalf("%d announcements after Stop returned", n)
	}
}

func TestRefresh(t *testing.T) {
	l := newLab(t)
	vip := netip.MustParseAddr("198.18.0.90")
	watch := arpWatcher(t, l.peer, vip)
	plain := agentIn(t, l.a, map[string]string{"address": "198.18.0.90/24"})
	if _, ok := plain.(Refresher); ok {
		t.Fatal("agent without garp_refresh implements Refresher")
	}
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.90/24", "garp_count": "1", "garp_refresh": "30s"})
	r, ok := ag.(Refresher)
	if !ok {
		t.Fatal("agent with garp_refresh does not implement Refresher")
	}
	if got := ag.(interface{ RefreshInterval() time.Duration }).RefreshInterval(); got != 30*time.Second {
		t.Fatalf("RefreshInterval = %v", got)
	}
	if err := r.Refresh(ctxT(t)); err == nil {
		t.Fatal("Refresh of an absent address succeeded")
	}
	if err := ag.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	watch(100 * time.Millisecond) // the start round
	if err := r.Refresh(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(watch(200 * time.Millisecond)); n != 2 {
		t.Fatalf("refresh sent %d packets, want a request and a reply", n)
	}
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// Announce moves a neighbour that learned another host's MAC for the VIP
// (a stale copy elsewhere) back to the holder, with a full burst.
func TestAnnounceWinsBackStaleNeighbour(t *testing.T) {
	l := newLab(t)
	vip := netip.MustParseAddr("198.18.0.91")
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.91/24", "garp_count": "3", "garp_interval": "50ms"})
	an, ok := ag.(interface{ Announce(context.Context) error })
	if !ok {
		t.Fatal("ipaddr agent has no Announce")
	}
	if err := an.Announce(ctxT(t)); err == nil {
		t.Fatal("Announce of an absent address succeeded")
	}
	if err := ag.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	poke(t, l.peer, vip)
	waitNeigh(t, l.peer, vip, l.macA, 3*time.Second)
	// A stale copy on b announces itself: the peer now sends to b.
	stale := agentIn(t, l.b, map[string]string{"address": "198.18.0.91/24", "garp_count": "1"})
	if err := stale.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitNeigh(t, l.peer, vip, l.macB, 3*time.Second)
	if err := stale.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	watch := arpWatcher(t, l.peer, vip)
	begin := time.Now()
	if err := an.Announce(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitNeigh(t, l.peer, vip, l.macA, time.Second)
	took := time.Since(begin)
	t.Logf("peer back on the holder's MAC %v after Announce", took)
	if n := len(watch(300 * time.Millisecond)); n != 6 {
		t.Fatalf("announce burst sent %d packets, want 3 rounds of request + reply", n)
	}
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestParams(t *testing.T) {
	good := map[string]string{"address": "198.18.0.100/24", "interface": "eth0"}
	for name, mut := range map[string]func(map[string]string){
		"no prefix":       func(p map[string]string) { p["address"] = "198.18.0.100" },
		"hostname":        func(p map[string]string) { p["address"] = "vip.example/24" },
		"multicast":       func(p map[string]string) { p["address"] = "224.0.0.5/24" },
		"unspecified":     func(p map[string]string) { p["address"] = "::/0" },
		"mapped /64":      func(p map[string]string) { p["address"] = "::ffff:198.18.0.1/64" },
		"no interface":    func(p map[string]string) { delete(p, "interface") },
		"long interface":  func(p map[string]string) { p["interface"] = "averyveryverylongname" },
		"negative count":  func(p map[string]string) { p["garp_count"] = "-1" },
		"huge count":      func(p map[string]string) { p["garp_count"] = "100000" },
		"tiny interval":   func(p map[string]string) { p["garp_interval"] = "1ms" },
		"bad interval":    func(p map[string]string) { p["garp_interval"] = "fast" },
		"tiny refresh":    func(p map[string]string) { p["garp_refresh"] = "10ms" },
		"negative refres": func(p map[string]string) { p["garp_refresh"] = "-1s" },
	} {
		p := map[string]string{}
		for k, v := range good {
			p[k] = v
		}
		mut(p)
		if _, err := New(resources.Spec{Name: "vip", Params: p}); err == nil {
			t.Errorf("%s: New accepted %v", name, p)
		}
	}
	ag, err := New(resources.Spec{Name: "vip", Params: map[string]string{"address": "::ffff:198.18.0.1/120", "interface": "eth0", "garp_refresh": "0s"}})
	if err != nil {
		t.Fatal(err)
	}
	if a := ag.(*Agent); a.prefix.String() != "198.18.0.1/24" || a.count != 5 || a.interval != 200*time.Millisecond {
		t.Fatalf("parsed %v count %d interval %v", a.prefix, a.count, a.interval)
	}
}

// BenchmarkStartStop measures how long Start takes to return (address added
// and first announcement round sent) and how long Stop takes (burst
// cancelled, address removed) inside a namespace.
func BenchmarkStartStop(b *testing.B) {
	l := newLab(b)
	ag := agentIn(b, l.a, map[string]string{"address": "198.18.0.120/24"})
	ctx := context.Background()
	var start, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := ag.Start(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := ag.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	b.ReportMetric(float64(start.Microseconds())/float64(b.N), "µs/start")
	b.ReportMetric(float64(stop.Microseconds())/float64(b.N), "µs/stop")
}

// TestWithoutAnnouncementsPeerKeepsOldMAC is the control for the failover
// test: with garp_count 0 the same move leaves the peer on the old MAC, so
// the switch seen there is the announcements' doing.
func TestWithoutAnnouncementsPeerKeepsOldMAC(t *testing.T) {
	for _, cidr := range []string{"198.18.0.110/24", "2001:2:0:18::110/64"} {
		l := newLab(t)
		vip := netip.MustParsePrefix(cidr).Addr()
		onA := agentIn(t, l.a, map[string]string{"address": cidr, "garp_count": "0"})
		onB := agentIn(t, l.b, map[string]string{"address": cidr, "garp_count": "0"})
		if err := onA.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		poke(t, l.peer, vip)
		waitNeigh(t, l.peer, vip, l.macA, 3*time.Second)
		if err := onA.Stop(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := onB.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if got := neighMAC(t, l.peer, vip); got.String() != l.macA.String() {
			t.Fatalf("%s: peer moved to %v without announcements", cidr, got)
		}
	}
}

// Start returns after the first round of announcements, not after the whole
// burst: with rounds 2 s apart, waiting for the burst would take 4 s, far
// beyond any scheduling delay of a busy machine.
func TestStartDoesNotWaitForTheBurst(t *testing.T) {
	l := newLab(t)
	ag := agentIn(t, l.a, map[string]string{"address": "198.18.0.71/24", "garp_count": "3", "garp_interval": "2s"})
	begin := time.Now()
	if err := ag.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took >= 2*time.Second {
		t.Fatalf("Start took %v: it waited for the announcement burst", took)
	}
	if err := ag.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
