package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/reload"
	"github.com/vigil-ha/vigil/configs"
)

func TestConfigWarningsNameTheNodes(t *testing.T) {
	nodes := []configs.Node{{Name: "lb1"}, {Name: "lb2"}, {Name: "w"}}
	m := func(name, hash, pending string, st membership.State) membership.Member {
		extra := map[string]string{reload.MetaKey: hash}
		if pending != "" {
			extra[metaPendingKey] = pending
		}
		return membership.Member{Name: name, State: st, Meta: membership.Meta{Extra: extra}}
	}
	same := map[string]membership.Member{
		"lb1": m("lb1", "aaaa", "", membership.StateAlive), "lb2": m("lb2", "aaaa", "", membership.StateAlive),
		"w": m("w", "bbbb", "", membership.StateDead), // a dead node's last word is not its configuration now
	}
	if w := configWarnings(same, nodes); len(w) != 0 {
		t.Fatalf("warnings %q, want none", w)
	}
	diff := map[string]membership.Member{
		"lb1": m("lb1", "aaaa", "group", membership.StateAlive), "lb2": m("lb2", "aaaa", "", membership.StateAlive),
		"w": m("w", "bbbb", "", membership.StateAlive),
	}
	got := strings.Join(configWarnings(diff, nodes), "\n")
	for _, want := range []string{"configuration differs between nodes: lb1, lb2 run aaaa; w runs bbbb",
		"lb1: configuration changes wait for a restart of its agent: group"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings:\n%s\nwant %q", got, want)
		}
	}
}

func TestCertWarning(t *testing.T) {
	now := time.Now()
	if w := certWarning(now.Add(90*24*time.Hour), now); w != "" {
		t.Errorf("90 days left: %q, want no warning", w)
	}
	if w := certWarning(now.Add(10*24*time.Hour), now); !strings.Contains(w, "expires in 240h") {
		t.Errorf("10 days left: %q", w)
	}
	if w := certWarning(now.Add(-time.Hour), now); !strings.Contains(w, "expired") {
		t.Errorf("expired: %q", w)
	}
}
