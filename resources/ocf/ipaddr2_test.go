package ocf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/resources"
)

// hostNS creates a namespace with eth0 (a veth whose peer sits in a second
// namespace) carrying 198.18.2.1/24, and returns its name.
func hostNS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skipf("ip netns unavailable: %v", err)
	}
	id := fmt.Sprintf("vtres-ocf-%d-%s", os.Getpid()%100000, strings.ToLower(t.Name()[4:min(len(t.Name()), 14)]))
	host, peer := id+"-h", id+"-p"
	for _, ns := range []string{host, peer} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer)
	ip(t, "-n", host, "addr", "add", "198.18.2.1/24", "dev", "eth0")
	ip(t, "-n", peer, "addr", "add", "198.18.2.2/24", "dev", "eth0")
	ip(t, "-n", host, "link", "set", "eth0", "up")
	ip(t, "-n", peer, "link", "set", "eth0", "up")
	return host
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func ipaddr2(t *testing.T, ns string, params map[string]string) *Agent {
	t.Helper()
	requireAgent(t, "IPaddr2")
	p := map[string]string{"agent": "heartbeat:IPaddr2"}
	for k, v := range params {
		p["params."+k] = v
	}
	ag := mustNew(t, resources.Spec{Group: "web", Name: "vip", RunDir: t.TempDir(), Params: p})
	ag.prefix = []string{"ip", "netns", "exec", ns}
	return ag
}

func TestIPaddr2InNamespace(t *testing.T) {
	ns := hostNS(t)
	ag := ipaddr2(t, ns, map[string]string{"ip": "198.18.2.100", "cidr_netmask": "24", "nic": "eth0"})
	ctx := ctxT(t, 20*time.Second)
	if st, err := ag.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor before start = %v, %v", st, err)
	}
	begin := time.Now()
	if err := ag.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("IPaddr2 start took %v", time.Since(begin))
	if out := ip(t, "-n", ns, "-4", "addr", "show", "dev", "eth0"); !strings.Contains(out, "198.18.2.100/24") {
		t.Fatalf("address not on eth0 after start:\n%s", out)
	}
	if st, err := ag.Monitor(ctx); st != resources.Running || err != nil {
		t.Fatalf("monitor after start = %v, %v", st, err)
	}
	begin = time.Now()
	if err := ag.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("IPaddr2 stop took %v", time.Since(begin))
	if out := ip(t, "-n", ns, "-4", "addr", "show", "dev", "eth0"); strings.Contains(out, "198.18.2.100") {
		t.Fatalf("address still on eth0 after stop:\n%s", out)
	}
	if st, err := ag.Monitor(ctx); st != resources.Stopped || err != nil {
		t.Fatalf("monitor after stop = %v, %v", st, err)
	}
	if err := ag.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestIPaddr2BadParamIsNotConfigured(t *testing.T) {
	ns := hostNS(t)
	ag := ipaddr2(t, ns, map[string]string{"ip": "198.18.2.300", "nic": "eth0"})
	err := ag.Start(ctxT(t, 20*time.Second))
	var ee *ExitError
	if err == nil || !errors.As(err, &ee) || ee.Code != ErrConfigured || !strings.Contains(err.Error(), "OCF_ERR_CONFIGURED (6)") {
		t.Fatalf("start with a bad ip: %v; want OCF_ERR_CONFIGURED (6)", err)
	}
	t.Logf("error the operator sees: %v", err)
}

func TestIPaddr2MetaData(t *testing.T) {
	requireAgent(t, "IPaddr2")
	m, err := MetaData("", "heartbeat:IPaddr2")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "IPaddr2" || len(m.Parameters) < 10 {
		t.Fatalf("name %q, %d parameters", m.Name, len(m.Parameters))
	}
	var ipParam *Param
	for i := range m.Parameters {
		if m.Parameters[i].Name == "ip" {
			ipParam = &m.Parameters[i]
		}
	}
	if ipParam == nil || !ipParam.Required || !ipParam.Unique {
		t.Fatalf("ip parameter: %+v", ipParam)
	}
	if a, ok := m.Action("start"); !ok || a.Timeout != 20*time.Second {
		t.Fatalf("start action %+v", a)
	}
	if a, ok := m.Action("monitor"); !ok || a.Interval != 10*time.Second {
		t.Fatalf("monitor action %+v", a)
	}
	config := map[string]string{"agent": "heartbeat:IPaddr2", "params.ip": "198.18.2.100", "params.nic": "eth0", "params.cidr_netmask": "24"}
	if err := m.Check(Params(config)); err != nil {
		t.Fatalf("valid params rejected: %v", err)
	}
	err = m.Check(map[string]string{"nic": "eth0", "netmask": "24"})
	if err == nil || !strings.Contains(err.Error(), `no parameter "netmask"`) || !strings.Contains(err.Error(), `requires parameter "ip"`) {
		t.Fatalf("Check = %v; want both the unknown netmask and the missing ip", err)
	}
	if _, err := MetaData("", "heartbeat:NoSuchAgent"); err == nil {
		t.Fatal("meta-data of a missing agent succeeded")
	}
}

func TestParseMetaDurations(t *testing.T) {
	m, err := ParseMeta([]byte(`<?xml version="1.0"?><!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="x"><parameters><parameter name="a" required="true"><content type="integer" default="3"/></parameter></parameters>
<actions><action name="start" timeout="90"/><action name="monitor" timeout="2m" interval="500ms" depth="10"/></actions></resource-agent>`))
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Parameters[0]; !p.Required || p.Default != "3" || p.Type != "integer" {
		t.Fatalf("param %+v", p)
	}
	if a, _ := m.Action("start"); a.Timeout != 90*time.Second {
		t.Fatalf("start %+v", a)
	}
	if a, _ := m.Action("monitor"); a.Timeout != 2*time.Minute || a.Interval != 500*time.Millisecond || a.Depth != 10 {
		t.Fatalf("monitor %+v", a)
	}
	if _, err := ParseMeta([]byte("<resource-agent><actions><action name=\"start\" timeout=\"soon\"/></actions></resource-agent>")); err == nil {
		t.Fatal("bad timeout accepted")
	}
}
