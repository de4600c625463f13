package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Host is one namespace attached to the lab switch: eth0 on pub, and for
// nodes eth1 on hb.
type Host struct {
	lab  *Lab
	name string
	ns   string
	nics []nic
}

// nic is one host interface and the switch port it is plugged into.
type nic struct {
	link string // Pub or HB: the bridge
	dev  string // eth0 / eth1 inside the host
	port string // "<host>-<link>" inside the switch namespace
	addr string // a.b.c.d/len
	mac  string
}

// AddHost creates a node namespace with eth0 on pub and eth1 on hb. Addresses
// without a prefix length get /24.
func (l *Lab) AddHost(name, pubIP, hbIP string) *Host {
	l.tb.Helper()
	return l.addHost(name, map[string]string{Pub: pubIP, HB: hbIP})
}

// AddClient creates a namespace attached to pub only.
func (l *Lab) AddClient(name, pubIP string) *Host {
	l.tb.Helper()
	return l.addHost(name, map[string]string{Pub: pubIP})
}

func (l *Lab) addHost(name string, ips map[string]string) *Host {
	l.tb.Helper()
	if !namePattern.MatchString(name) || name == "sw" || len(name) > 11 {
		l.tb.Fatalf("lab: host name %q must match %s, be at most 11 characters and not be \"sw\"", name, namePattern)
	}
	h := &Host{lab: l, name: name, ns: l.prefix + "-" + name}
	for i, link := range []string{Pub, HB} {
		ip, ok := ips[link]
		if !ok {
			continue
		}
		if !strings.Contains(ip, "/") {
			ip += "/24"
		}
		addr, _, err := net.ParseCIDR(ip)
		if err != nil || addr.To4() == nil {
			l.tb.Fatalf("lab: host %s: bad %s address %q", name, link, ip)
		}
		h.nics = append(h.nics, nic{link: link, dev: fmt.Sprintf("eth%d", i), port: name + "-" + link, addr: ip, mac: pinnedMAC(addr)})
	}
	l.mu.Lock()
	for _, o := range l.hosts {
		if o.name == name {
			l.mu.Unlock()
			l.tb.Fatalf("lab: host %s added twice", name)
		}
	}
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()

	l.must("ip", "netns", "add", h.ns)
	l.must("ip", "-n", h.ns, "link", "set", "lo", "up")
	if err := h.plug(); err != nil {
		l.tb.Fatalf("lab: %v", err)
	}
	return h
}

// pinnedMAC derives a stable locally administered MAC from the IPv4 address:
// 02:18 followed by the four address bytes, unique within a lab.
func pinnedMAC(ip net.IP) string {
	v4 := ip.To4()
	return fmt.Sprintf("02:18:%02x:%02x:%02x:%02x", v4[0], v4[1], v4[2], v4[3])
}

// plug creates the host's veths, with their pinned MACs and addresses.
func (h *Host) plug() error {
	sw := h.lab.sw
	for _, n := range h.nics {
		steps := [][]string{
			{"ip", "-n", sw, "link", "add", n.port, "type", "veth", "peer", "name", n.dev, "address", n.mac, "netns", h.ns},
			{"ip", "-n", sw, "link", "set", n.port, "master", n.link},
			{"ip", "-n", sw, "link", "set", n.port, "up"},
			{"ip", "-n", h.ns, "addr", "add", n.addr, "dev", n.dev},
			{"ip", "-n", h.ns, "link", "set", n.dev, "up"},
		}
		for _, argv := range steps {
			if _, err := run(argv...); err != nil {
				return fmt.Errorf("host %s: %w", h.name, err)
			}
		}
	}
	return nil
}

// Name is the host's lab name (n1, client...).
func (h *Host) Name() string { return h.name }

// NS is the host's network namespace name.
func (h *Host) NS() string { return h.ns }

// IP returns the host's address on link (Pub or HB) without prefix length.
func (h *Host) IP(link string) string {
	for _, n := range h.nics {
		if n.link == link {
			return strings.SplitN(n.addr, "/", 2)[0]
		}
	}
	return ""
}

// Run runs argv to completion inside the host's namespace (30 s at most) and
// returns its combined output.
func (h *Host) Run(argv ...string) (string, error) {
	return run(append([]string{"ip", "netns", "exec", h.ns}, argv...)...)
}

// RunContext is Run bounded by ctx instead of the default 30 s.
func (h *Host) RunContext(ctx context.Context, argv ...string) (string, error) {
	full := append([]string{"netns", "exec", h.ns}, argv...)
	out, err := exec.CommandContext(ctx, "ip", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s on %s: %w: %s", strings.Join(argv, " "), h.name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// PowerOff simulates a power loss, in the order that keeps it silent and
// sudden: the host's cables are pulled, all at once (its veths deleted in
// one netlink batch, so its addresses vanish with them), then every process
// of the namespace is frozen (SIGSTOP) and killed. Killing first would let
// the dying kernel sockets send FIN/RST to the peers, which then learn of
// the failure within milliseconds; freezing first would leave the host's
// kernel answering (a frozen agent, not a power cut) until its cables go.
// A real power loss does neither.
func (h *Host) PowerOff() {
	h.lab.tb.Helper()
	ports := make([]string, 0, len(h.nics))
	for _, n := range h.nics {
		ports = append(ports, n.port)
	}
	// Deleting the switch end deletes the pair, including the host-side
	// device and every address on it.
	if err := deleteLinks(h.lab.sw, ports); err != nil {
		h.lab.tb.Fatalf("lab: power-off %s: %v", h.name, err)
	}
	freezeNetnsPids(h.ns)
	killNetnsPids(h.ns)
	if left := netnsPids(h.ns); len(left) > 0 {
		h.lab.tb.Fatalf("lab: power-off %s: pids %v survive SIGKILL", h.name, left)
	}
}

// deleteLinks deletes links of namespace ns in one `ip -batch` run: one
// process, the links gone within a millisecond of each other.
func deleteLinks(ns string, links []string) error {
	var b strings.Builder
	for _, l := range links {
		fmt.Fprintf(&b, "link del %s\n", l)
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch (%s): %w: %s", ns, strings.Join(links, ", "), err, bytes.TrimSpace(out))
	}
	return nil
}

// PowerOn re-creates the host's veths with the same MACs and addresses.
// Processes are not restarted: the test starts them again.
func (h *Host) PowerOn() {
	h.lab.tb.Helper()
	if err := h.plug(); err != nil {
		h.lab.tb.Fatalf("lab: power-on: %v", err)
	}
}

// Freeze stops p with SIGSTOP (a hung process: sockets stay open, nothing
// answers).
func (h *Host) Freeze(p *Proc) {
	h.lab.tb.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		h.lab.tb.Fatalf("lab: freeze %s: %v", p.Name, err)
	}
}

// Thaw resumes a frozen process with SIGCONT.
func (h *Host) Thaw(p *Proc) {
	h.lab.tb.Helper()
	if err := p.Signal(syscall.SIGCONT); err != nil {
		h.lab.tb.Fatalf("lab: thaw %s: %v", p.Name, err)
	}
}

// Addrs lists the host's IPv4 and IPv6 addresses as "a.b.c.d/len".
func (h *Host) Addrs() ([]string, error) {
	out, err := run("ip", "-n", h.ns, "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				addrs = append(addrs, f[i+1])
			}
		}
	}
	return addrs, nil
}

// HasAddr reports whether the host holds the address: "a.b.c.d/len" matches
// address and length, a bare "a.b.c.d" matches the address alone.
func (h *Host) HasAddr(cidrOrIP string) bool {
	addrs, err := h.Addrs()
	if err != nil {
		h.lab.tb.Logf("lab: %v", err)
		return false
	}
	return hasAddr(addrs, cidrOrIP)
}

func hasAddr(addrs []string, want string) bool {
	for _, a := range addrs {
		if a == want || (!strings.Contains(want, "/") && strings.SplitN(a, "/", 2)[0] == want) {
			return true
		}
	}
	return false
}

// LinkDown takes the switch side of h's link down: h sees NO-CARRIER.
func (l *Lab) LinkDown(h *Host, link string) { l.setLink(h, link, "down") }

// LinkUp brings the switch side of h's link back up.
func (l *Lab) LinkUp(h *Host, link string) { l.setLink(h, link, "up") }

func (l *Lab) setLink(h *Host, link, state string) {
	l.tb.Helper()
	l.must("ip", "-n", l.sw, "link", "set", h.port(link), state)
}

// dev is the host's own interface on link (eth0 on Pub, eth1 on HB).
func (h *Host) dev(link string) string { return h.nicOn(link).dev }

// port is the switch-side device of h's link.
func (h *Host) port(link string) string { return h.nicOn(link).port }

func (h *Host) nicOn(link string) nic {
	for _, n := range h.nics {
		if n.link == link {
			return n
		}
	}
	h.lab.tb.Fatalf("lab: host %s has no %q link", h.name, link)
	return nic{}
}

// WaitAddr waits until the host holds (want=true) or lacks the address.
func (h *Host) WaitAddr(cidrOrIP string, want bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if h.HasAddr(cidrOrIP) == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Reach reports whether ip answers an ARP request from h within a second
// (layer-2 reachability across the switch; the lab has no ping).
func (h *Host) Reach(ip string) bool {
	_, err := h.Run("arping", "-c", "1", "-w", "1", ip)
	return err == nil
}

// GARP sends one gratuitous ARP for ip from device dev (eth0 for pub), as a
// VIP owner must after adding an address. The frame leaves at once; arping
// then lingers for a second, so it is left to finish in the background.
func (h *Host) GARP(dev, ip string) error {
	cmd := exec.Command("ip", "netns", "exec", h.ns, "arping", "-U", "-c", "1", "-I", dev, ip)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("arping on %s: %w", h.name, err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
