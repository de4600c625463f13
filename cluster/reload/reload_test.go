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
		if c, ok := got[s]; !ok || c.Live || !strings.Contains(c.Why, "restart") {
			t.Errorf("%s: %+v, want a change that needs a restart", s, c)
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
