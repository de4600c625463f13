package lab

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// TestAttacks runs real agents with the web group (VIP + haproxy) on n1 and
// attacks them from "mallory", a host on both links that is no cluster
// member: forged writes with a member's certificate, with a certificate of
// a node that is not configured and with an operator certificate; raft
// impersonation; garbage, floods and idle connections on every port; an
// oversized body. Every attack is refused, and afterwards the replicated
// state, the leader, its term and the running haproxy are exactly as
// before.
func TestAttacks(t *testing.T) {
	l := New(t, "vlatk")
	c := StartCluster(l, ClusterSpec{Preset: "fast", LogLevel: "info", Extra: WebGroupHCL(t, l.Dir(), "n1", 3)})
	for _, n := range []string{"n1", "n2"} {
		EnableNonlocalBind(c.Node(n).Host)
	}
	leader := c.WaitHealthy(30 * time.Second)
	c.Eventually(30*time.Second, "web started on n1", func() error {
		st, err := c.Status(leader)
		if err != nil {
			return err
		}
		if g, _ := GroupOf(st, "web"); g.Node != "n1" || g.State != state.GroupStarted {
			return fmt.Errorf("web %s on %q", g.State, g.Node)
		}
		return nil
	})
	before, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	pid := HAProxyPid(l.Dir(), "n1")
	if pid == 0 {
		t.Fatal("no haproxy on n1")
	}
	events := eventsOf(t, c, leader)

	mallory := l.AddHost("mallory", "198.18.0.66", "198.18.1.66")
	bin := Build(t, "./test/lab/cmd/attack")
	tlsDir := c.tlsDir()
	pem := func(name string) (string, string) {
		return filepath.Join(tlsDir, name+".pem"), filepath.Join(tlsDir, name+"-key.pem")
	}
	ca := filepath.Join(tlsDir, "ca.pem")
	if _, _, err := tlsutil.CreateCert(ca, filepath.Join(tlsDir, "ca-key.pem"), tlsDir, "intruder",
		[]net.IP{net.ParseIP("198.18.0.66")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsutil.CreateOperatorCert(ca, filepath.Join(tlsDir, "ca-key.pem"), tlsDir, "mallory"); err != nil {
		t.Fatal(err)
	}
	attack := func(args ...string) string {
		t.Helper()
		out, err := mallory.Run(append([]string{bin}, args...)...)
		if err != nil {
			t.Fatalf("attack %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	addr := func(n string) string { return c.Node(n).Host.IP(Pub) + ":" + strconv.Itoa(ClusterPort) }
	hb := func(n string) string { return c.Node(n).Host.IP(HB) + ":" + strconv.Itoa(HeartbeatPort) }
	other := "n2"
	if leader == "n2" {
		other = "n1"
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	forged := []struct {
		as  string // certificate
		typ state.Type
		js  string
	}{
		{other, state.TypeClearHolder, `{"group":"web","node":"n1","reason":"forged","time":"` + now + `"}`},
		{"w", state.TypeAssign, `{"group":"web","node":"n2","reason":"forged","time":"` + now + `"}`},
		{other, state.TypeSetNodeStatus, `{"node":"n1","status":"fenced","reason":"forged","time":"` + now + `"}`},
		{other, state.TypeRecordFence, `{"time":"` + now + `","target":"n1","device":"x","reason":"forged","ok":true}`},
		{"w", state.TypeGroupReport, `{"group":"web","node":"n1","state":"stopped","time":"` + now + `"}`},
		{"w", state.TypeRecordEvent, `{"kind":"x","message":"` + strings.Repeat("y", 8000) + `","time":"` + now + `"}`},
	}
	for _, f := range forged {
		cert, key := pem(f.as)
		if out := attack("apply", addr(leader), leader, ca, cert, key, strconv.Itoa(int(f.typ)), f.js); out != "status 403" {
			t.Errorf("forged command %d with %s's certificate: %s, want status 403", f.typ, f.as, out)
		}
	}
	for _, who := range []string{"intruder", "operator-mallory"} {
		cert, key := pem(who)
		out := attack("apply", addr(leader), leader, ca, cert, key, strconv.Itoa(int(state.TypeSetStandby)), `{"node":"n1","standby":true}`)
		if !strings.HasPrefix(out, "refused") {
			t.Errorf("%s's certificate on the cluster port: %s, want refused", who, out)
		}
	}
	cert, key := pem(other)
	if out := attack("big", addr(leader), leader, ca, cert, key, strconv.Itoa(2<<20)); out != "status 413" && !strings.HasPrefix(out, "refused") {
		t.Errorf("2 MB forwarded command: %s", out)
	}
	term := strconv.FormatUint(before.Term+1000, 10)
	// other's certificate, speaking as the witness at a term that would
	// depose the leader.
	if out := attack("raft", addr(leader), leader, ca, cert, key, "w", addr("w"), term); out != "closed" {
		t.Errorf("raft as w with %s's certificate: %s, want closed", other, out)
	}
	ic, ik := pem("intruder")
	if out := attack("raft", addr(leader), leader, ca, ic, ik, "intruder", "198.18.0.66:7300", term); !strings.HasPrefix(out, "refused") && out != "closed" {
		t.Errorf("raft from a non-configured node's certificate: %s", out)
	}
	for _, n := range []string{"n1", "n2", "w"} {
		attack("udp", hb(n), "3000")
		attack("garbage", hb(n), "50")
		attack("garbage", addr(n), "50")
	}
	if out := attack("idle", addr(leader), "300", "2s"); !strings.HasPrefix(out, "held ") {
		t.Errorf("idle flood: %s", out)
	} else if held, _ := strconv.Atoi(strings.Fields(out)[1]); held > 16 {
		t.Errorf("idle flood on the cluster port: %s; at most 16 per address", out)
	}

	// A write the CLI may make proves the leader processed everything sent
	// before it; then nothing may have changed.
	if _, err := c.CLI(other, "node", "online", "w"); err != nil {
		t.Fatal(err)
	}
	after, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	if after.Leader != before.Leader || after.Term != before.Term {
		t.Errorf("leader %s term %d -> leader %s term %d", before.Leader, before.Term, after.Leader, after.Term)
	}
	if g, _ := GroupOf(after, "web"); g.Node != "n1" || g.State != state.GroupStarted || g.Moves != 0 {
		t.Errorf("web after the attacks: %+v", g)
	}
	for _, n := range after.Nodes {
		if n.State != "online" {
			t.Errorf("%s is %s after the attacks", n.Name, n.State)
		}
	}
	if len(after.Fencing) != len(before.Fencing) {
		t.Errorf("fencing history grew: %+v", after.Fencing)
	}
	if p := HAProxyPid(l.Dir(), "n1"); p != pid {
		t.Errorf("haproxy on n1 restarted: pid %d -> %d", pid, p)
	}
	for _, e := range eventsOf(t, c, leader)[len(events):] {
		if e.Kind != "node-online" {
			t.Errorf("event after the attacks: %s %s", e.Kind, e.Message)
		}
	}
	// Remote-caused log lines stayed few (rate limited), however many
	// packets and connections arrived.
	for _, n := range c.Nodes {
		b, err := os.ReadFile(c.Agent(n.Name).Log)
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(string(b), "\n"); lines > 2000 {
			t.Errorf("%s logged %d lines", n.Name, lines)
		}
	}
}

// eventsOf is the cluster history as node reports it.
func eventsOf(t *testing.T, c *Cluster, node string) []api.Event {
	t.Helper()
	out, err := c.CLI(node, "history", "-n", "1000", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var ev []api.Event
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("history: %v\n%s", err, out)
	}
	return ev
}
