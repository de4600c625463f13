package reload

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
)

// node returns node name's view of one cluster configuration.
func node(name, bind string) *configs.Config {
	return &configs.Config{
		NodeName: name, DataDir: "/var/lib/vigil-" + name, LogLevel: "info",
		Cluster: configs.Cluster{Name: "edge", Bind: bind, Heartbeat: bind + "1", GossipKey: []byte(name),
			TLS:    configs.TLS{CertFile: "/etc/vigil/" + name + ".pem"},
			Timing: configs.Timing{Preset: "fast", Lease: time.Second}},
		Nodes: []configs.Node{{Name: "lb1", Address: "10.0.0.11:7300"}, {Name: "lb2", Address: "10.0.0.12:7300"}},
		Fences: []configs.Fence{{Type: "ipmi", Name: "lb1-bmc", Params: map[string]string{"host": "10.0.1.11"},
			Secrets: map[string][]byte{"password": []byte("s3cret-" + name)}}},
		Groups: []configs.Group{{Name: "web", Prefer: "lb1", Resources: []configs.Resource{
			{Type: "ipaddr", Name: "vip", Params: map[string]string{"address": "10.0.0.100/24"}}}}},
	}
}

func TestHashIgnoresNodeLocalSettingsAndSecrets(t *testing.T) {
	a, b := node("lb1", "10.0.0.11:7300"), node("lb2", "10.0.0.12:7300")
	if Hash(a) != Hash(b) {
		t.Fatalf("two nodes of one cluster hash differently: %s %s", Hash(a), Hash(b))
	}
	if len(Hash(a)) != 16 {
		t.Fatalf("hash %q, want 16 hex digits", Hash(a))
	}
	b.Groups[0].Resources[0].Params["address"] = "10.0.0.101/24"
	if Hash(a) == Hash(b) {
		t.Fatal("a changed resource parameter did not change the hash")
	}
}

func TestDiffClassifiesChanges(t *testing.T) {
	old, next := node("lb1", "10.0.0.11:7300"), node("lb1", "10.0.0.11:7300")
	if d := Diff(old, next); len(d) != 0 {
		t.Fatalf("identical configurations differ: %+v", d)
	}
	next.LogLevel = "debug"
	next.Groups[0].Prefer = "lb2"
	next.Cluster.GossipKey = []byte("other")
	next.Alerts = []configs.Alert{{Name: "mail", Exec: "/bin/true"}}
	got := map[string]Change{}
	for _, c := range Diff(old, next) {
		got[c.Section] = c
	}
	if c := got["log_level"]; !c.Live {
		t.Errorf("log_level: %+v, want live", c)
	}
	for _, s := range []string{"group", "alert"} {
		if c, ok := got[s]; !ok || !c.Live {
			t.Errorf("%s: %+v, want a live change", s, c)
		}
	}
	if c := got["cluster.gossip_key_file"]; !strings.Contains(c.Why, "vigil keyring") {
		t.Errorf("gossip key: %+v, want a pointer to vigil keyring", c)
	}
	if len(got) != 4 {
		t.Errorf("changes %v, want exactly log_level, group, alert, gossip key", got)
	}
	// An empty list and a missing one are the same configuration.
	a, b := node("lb1", "x"), node("lb1", "x")
	a.Orders, b.Orders = nil, []configs.Order{}
	if d := Diff(a, b); len(d) != 0 {
		t.Errorf("nil vs empty orders: %+v", d)
	}
}

// Timing, nodes and listeners wait for a restart; Merge takes only the live
// sections from the new file.
func TestPendingSectionsAndMerge(t *testing.T) {
	old, next := node("lb1", "10.0.0.11:7300"), node("lb1", "10.0.0.11:7300")
	next.Cluster.Timing.Lease = 2 * time.Second
	next.Nodes = append(next.Nodes, configs.Node{Name: "w", Address: "10.0.0.13:7300", Witness: true})
	next.Groups = append(next.Groups, configs.Group{Name: "api"})
	next.Fences[0].Params = map[string]string{"host": "10.0.1.99"}
	got := map[string]Change{}
	for _, c := range Diff(old, next) {
		got[c.Section] = c
	}
	for _, s := range []string{"cluster.timing", "node"} {
		if c := got[s]; c.Live || c.Why == "" {
			t.Errorf("%s: %+v, want pending with a reason", s, c)
		}
	}
	for _, s := range []string{"group", "fence"} {
		if c := got[s]; !c.Live {
			t.Errorf("%s: %+v, want live", s, c)
		}
	}
	m := Merge(old, next)
	if m.Cluster.Timing.Lease != time.Second || len(m.Nodes) != 2 {
		t.Errorf("merge took a pending section: lease %v, %d nodes", m.Cluster.Timing.Lease, len(m.Nodes))
	}
	if len(m.Groups) != 2 || m.Fences[0].Params["host"] != "10.0.1.99" {
		t.Errorf("merge left out a live section: %+v", m)
	}
	// Nothing left to apply once merged: only the pending sections differ.
	for _, c := range Diff(m, next) {
		if c.Live {
			t.Errorf("merged configuration still differs live: %+v", c)
		}
	}
}

func TestFirstChangedAndGroupLines(t *testing.T) {
	rs := func(params ...string) []configs.Resource {
		var out []configs.Resource
		for i, p := range params {
			out = append(out, configs.Resource{Type: "exec", Name: string(rune('a' + i)), Params: map[string]string{"p": p}})
		}
		return out
	}
	cases := []struct {
		old, new []configs.Resource
		want     int
	}{
		{rs("1", "2"), rs("1", "2"), 2},
		{rs("1", "2"), rs("1", "3"), 1},
		{rs("1", "2"), rs("0", "2"), 0},
		{rs("1", "2"), rs("1", "2", "3"), 2},
		{rs("1", "2"), rs("1"), 1},
	}
	for i, c := range cases {
		if got := FirstChanged(c.old, c.new); got != c.want {
			t.Errorf("case %d: FirstChanged %d, want %d", i, got, c.want)
		}
	}
	opOnly := rs("1", "2")
	opOnly[1].MonitorInterval = time.Second
	if got := FirstChanged(rs("1", "2"), opOnly); got != 2 {
		t.Errorf("an operation setting counts as a definition change (%d)", got)
	}
	old := &configs.Config{Groups: []configs.Group{{Name: "web", Resources: rs("1", "2")}, {Name: "db", Resources: rs("1")}, {Name: "old"}}}
	next := &configs.Config{Groups: []configs.Group{{Name: "web", Resources: rs("1", "3")}, {Name: "db", Resources: rs("1")}, {Name: "api"}}}
	lines := strings.Join(Groups(old, next), "\n")
	for _, want := range []string{"group web changed: b restarted in place", "group api added", "group old removed"} {
		if !strings.Contains(lines, want) {
			t.Errorf("lines:\n%s\nwant %q", lines, want)
		}
	}
	if strings.Contains(lines, "db") {
		t.Errorf("an unchanged group is named:\n%s", lines)
	}
}
