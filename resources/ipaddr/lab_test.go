package ipaddr

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vigil-ha/vigil/resources"
)

var labSeq atomic.Int32 // test-only: unique namespace names within this process

// lab is three hosts (a, b, peer) on one bridge that lives in its own
// switch namespace. Every host's interface is "eth0" with a pinned MAC.
type lab struct {
	sw, a, b, peer string // namespace names
	macA, macB     net.HardwareAddr
}

func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skipf("ip netns unavailable: %v", err)
	}
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireNetns(t)
	id := fmt.Sprintf("vtres-%d-%d", os.Getpid()%100000, labSeq.Add(1))
	l := &lab{sw: id + "-sw", a: id + "-a", b: id + "-b", peer: id + "-p"}
	for _, ns := range []string{l.sw, l.a, l.b, l.peer} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", l.sw, "link", "add", "br0", "type", "bridge")
	ipCmd(t, "-n", l.sw, "link", "set", "br0", "up")
	hosts := []struct {
		ns, port, mac, v4, v6 string
	}{
		{l.a, "pa", "02:18:00:00:00:0a", "198.18.0.1/24", "2001:2:0:18::1/64"},
		{l.b, "pb", "02:18:00:00:00:0b", "198.18.0.2/24", "2001:2:0:18::2/64"},
		{l.peer, "pp", "02:18:00:00:00:0c", "198.18.0.3/24", "2001:2:0:18::3/64"},
	}
	for _, h := range hosts {
		ipCmd(t, "-n", l.sw, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
		ipCmd(t, "-n", l.sw, "link", "set", h.port, "master", "br0", "up")
		ipCmd(t, "-n", h.ns, "link", "set", "eth0", "address", h.mac, "up")
		ipCmd(t, "-n", h.ns, "addr", "add", h.v4, "dev", "eth0")
		ipCmd(t, "-n", h.ns, "addr", "add", h.v6, "dev", "eth0", "nodad")
	}
	l.macA, _ = net.ParseMAC(hosts[0].mac)
	l.macB, _ = net.ParseMAC(hosts[1].mac)
	return l
}

func nsPath(ns string) string { return "/run/netns/" + ns }

// agentIn builds an agent acting inside namespace ns.
func agentIn(t testing.TB, ns string, params map[string]string) resources.Agent {
	t.Helper()
	p := map[string]string{"interface": "eth0"}
	for k, v := range params {
		p[k] = v
	}
	ag, err := New(resources.Spec{Group: "g", Name: "vip", Params: p})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	switch x := ag.(type) {
	case *Agent:
		x.nsPath = nsPath(ns)
	case *refreshingAgent:
		x.nsPath = nsPath(ns)
	}
	return ag
}

// poke sends one UDP datagram from ns to dst, which makes the kernel there
// resolve dst's MAC (ARP or neighbour solicitation).
func poke(t *testing.T, ns string, dst netip.Addr) {
	t.Helper()
	err := runInNS(nsPath(ns), func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(dst, 9).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
	if err != nil {
		t.Fatalf("poke %s from %s: %v", dst, ns, err)
	}
}

// neighMAC is ns's neighbour-table entry for ip on eth0 (nil when none).
func neighMAC(t *testing.T, ns string, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	h := nlHandle(t, ns)
	defer h.Close()
	link, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	var neighs []netlink.Neigh
	if err := retryDump(func() (err error) { neighs, err = h.NeighList(link.Attrs().Index, family); return err }); err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr
		}
	}
	return nil
}

func nlHandle(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	nh, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	h, err := netlink.NewHandleAt(nh)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitNeigh polls ns's neighbour table until ip maps to mac and returns how
// long that took, or fails after limit.
func waitNeigh(t *testing.T, ns string, ip netip.Addr, mac net.HardwareAddr, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if got := neighMAC(t, ns, ip); got.String() == mac.String() {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: neighbour entry for %s is %v, want %v after %v", ns, ip, neighMAC(t, ns, ip), mac, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// addrsOn lists ns's eth0 addresses equal to ip.
func addrsOn(t *testing.T, ns string, ip netip.Addr) []netlink.Addr {
	t.Helper()
	h := nlHandle(t, ns)
	defer h.Close()
	link, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	var all []netlink.Addr
	if err := retryDump(func() (err error) { all, err = h.AddrList(link, netlink.FAMILY_ALL); return err }); err != nil {
		t.Fatal(err)
	}
	var out []netlink.Addr
	for _, a := range all {
		if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip {
			out = append(out, a)
		}
	}
	return out
}
