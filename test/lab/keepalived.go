package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// KeepalivedPair is the baseline that vigil is compared with: load balancers
// n1 and n2 with the lab cluster's addresses, each running the example's
// haproxy permanently (bound to WebVIP through ip_nonlocal_bind) and
// keepalived 2.x moving WebVIP with VRRP version 3 over unicast. n1 has the
// higher priority and preempts. See /work/shared/research/lab-recipes.md.
type KeepalivedPair struct {
	Lab       *Lab
	Hosts     map[string]*Host // n1, n2
	AdvertInt string           // e.g. "1" or "0.1" (seconds)
	// More are further virtual_ipaddress lines ("198.18.2.1/23"), moved
	// with WebVIP (StartKeepalivedPairWith).
	More []string
	dir  string
	ka   map[string]*Proc // running keepalived per node
}

var kaNodes = []struct {
	name, pub, hb, peer string
	priority            int
}{
	{"n1", "198.18.0.11", "198.18.1.11", "198.18.0.12", 150},
	{"n2", "198.18.0.12", "198.18.1.12", "198.18.0.11", 100},
}

// StartKeepalivedPair adds n1 and n2 to l and starts haproxy and keepalived
// on both with the given advert_int.
func StartKeepalivedPair(l *Lab, advertInt string) *KeepalivedPair {
	l.tb.Helper()
	return StartKeepalivedPairWith(l, advertInt, nil)
}

// StartKeepalivedPairWith is StartKeepalivedPair with more virtual
// addresses (CIDR, on eth0) besides WebVIP.
func StartKeepalivedPairWith(l *Lab, advertInt string, more []string) *KeepalivedPair {
	l.tb.Helper()
	k := &KeepalivedPair{Lab: l, Hosts: map[string]*Host{}, AdvertInt: advertInt, More: more,
		dir: filepath.Join(l.dir, "keepalived"), ka: map[string]*Proc{}}
	if err := os.MkdirAll(k.dir, 0o755); err != nil {
		l.tb.Fatalf("lab: %v", err)
	}
	for _, n := range kaNodes {
		if err := os.MkdirAll(filepath.Join(l.dir, n.name), 0o755); err != nil {
			l.tb.Fatalf("lab: %v", err)
		}
		k.Hosts[n.name] = l.AddHost(n.name, n.pub, n.hb)
	}
	for _, n := range kaNodes {
		k.StartNode(n.name)
	}
	return k
}

// StartNode starts haproxy and keepalived on a (powered-on) node.
func (k *KeepalivedPair) StartNode(name string) {
	k.Lab.tb.Helper()
	StartHAProxy(k.Lab, k.Hosts[name], name)
	k.StartKeepalived(name)
}

// SetAdvertInt changes advert_int: keepalived is stopped on both nodes
// (n2 first, so n1 keeps the VIP as long as possible) and started again.
func (k *KeepalivedPair) SetAdvertInt(advertInt string) {
	k.Lab.tb.Helper()
	k.StopKeepalived("n2")
	k.StopKeepalived("n1")
	k.AdvertInt = advertInt
	k.StartKeepalived("n1")
	k.StartKeepalived("n2")
}

// StartKeepalived writes the node's config and runs keepalived in the
// foreground (VRRP only) with pid files of its own.
func (k *KeepalivedPair) StartKeepalived(name string) {
	tb := k.Lab.tb
	tb.Helper()
	if p := k.ka[name]; p != nil && !p.Exited() {
		tb.Fatalf("lab: keepalived already runs on %s", name)
	}
	for _, n := range kaNodes {
		if n.name != name {
			continue
		}
		conf := filepath.Join(k.dir, name+".conf")
		state := "BACKUP"
		if n.priority == 150 {
			state = "MASTER"
		}
		body := fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_version 3
}
vrrp_instance web {
  state %s
  interface eth0
  virtual_router_id 51
  priority %d
  advert_int %s
  unicast_src_ip %s
  unicast_peer {
    %s
  }
  virtual_ipaddress {
    %s/24 dev eth0
%s  }
}
`, name, state, n.priority, k.AdvertInt, n.pub, n.peer, WebVIP, k.moreLines())
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			tb.Fatalf("lab: %v", err)
		}
		var pids []string
		for _, kind := range []string{"", "-vrrp", "-chk", "-bfd"} {
			p := filepath.Join(k.dir, name+kind+".pid")
			_ = os.Remove(p) // a stale pid file stops keepalived from starting
			pids = append(pids, p)
		}
		k.ka[name] = k.Hosts[name].Start("keepalived", "keepalived", "-n", "-l", "-D", "-G", "-P", "-f", conf,
			"-p", pids[0], "-r", pids[1], "-c", pids[2], "-b", pids[3])
		return
	}
	tb.Fatalf("lab: no keepalived node %q", name)
}

func (k *KeepalivedPair) moreLines() string {
	var b strings.Builder
	for _, cidr := range k.More {
		fmt.Fprintf(&b, "    %s dev eth0\n", cidr)
	}
	return b.String()
}

// StopKeepalived stops keepalived cleanly (SIGTERM): it gives up the VIP
// and tells its peer with a priority 0 advert.
func (k *KeepalivedPair) StopKeepalived(name string) {
	k.Lab.tb.Helper()
	p := k.ka[name]
	if p == nil {
		return
	}
	if err := p.Stop(10 * time.Second); err != nil && !isSignalExit(err) {
		k.Lab.tb.Logf("lab: stop keepalived on %s: %v", name, err)
	}
	k.ka[name] = nil
}

// PowerOff cuts n's power: keepalived and haproxy die with the namespace.
func (k *KeepalivedPair) PowerOff(name string) {
	k.Lab.tb.Helper()
	k.Hosts[name].PowerOff()
	if p := k.ka[name]; p != nil {
		_ = p.WaitTimeout(5 * time.Second)
	}
	k.ka[name] = nil
}

// PowerOn re-plugs the node and starts haproxy and keepalived again.
func (k *KeepalivedPair) PowerOn(name string) {
	k.Lab.tb.Helper()
	k.Hosts[name].PowerOn()
	k.StartNode(name)
}

func isSignalExit(err error) bool {
	type waitStatus interface{ Sys() any }
	if ee, ok := err.(waitStatus); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws.Signaled()
		}
	}
	return false
}

// WaitMaster waits until only master holds WebVIP, then lets three adverts
// pass so that both peers agree (a restarted keepalived starts as backup and
// preempts only when it hears its peer).
func (k *KeepalivedPair) WaitMaster(master string, timeout time.Duration) {
	k.Lab.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for name, h := range k.Hosts {
			if h.HasAddr(WebVIP) != (name == master) {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			k.Lab.tb.Fatalf("lab: keepalived: %s is not the only holder of %s after %v", master, WebVIP, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	adv, err := time.ParseDuration(k.AdvertInt + "s")
	if err != nil {
		k.Lab.tb.Fatalf("lab: advert_int %q: %v", k.AdvertInt, err)
	}
	time.Sleep(3 * adv)
}
