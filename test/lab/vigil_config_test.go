package lab

import (
	"os"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/configs"
)

// TestClusterConfigsLoad checks that the configs and key material the lab
// writes pass the real loader (configs.Load), so a cluster test failing
// later is about the agent, not the lab's config.
func TestClusterConfigsLoad(t *testing.T) {
	l := New(t, "vlabk")
	c := prepareCluster(l, ClusterSpec{Preset: "lan"}, "")
	for _, n := range c.Nodes {
		cfg, err := configs.Load(n.Config, builtin.Schemas())
		if err != nil {
			b, _ := os.ReadFile(n.Config)
			t.Fatalf("config of %s does not load: %v\n%s", n.Name, err, b)
		}
		if cfg.NodeName != n.Name || cfg.Cluster.Timing.Preset != "lan" || len(cfg.Nodes) != 3 ||
			cfg.Cluster.API.Socket != n.Socket || len(cfg.Cluster.GossipKey) != 32 || cfg.Cluster.TLS.Empty() {
			t.Errorf("config of %s loaded as %+v", n.Name, cfg)
		}
		if cfg.Local().Witness != n.Witness || cfg.Local().Heartbeat != n.Host.IP(HB)+":7301" {
			t.Errorf("%s: local node %+v", n.Name, cfg.Local())
		}
	}
	if st, err := os.Stat(c.keyFile()); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("gossip key file: %v %v", st, err)
	}
	if !strings.Contains(c.config(c.Node("w")), "witness   = true") {
		t.Error("the witness is not marked in the config")
	}
}
