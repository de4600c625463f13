// Package reload compares two validated configurations: it names what
// changed (Diff), says which changes a running agent applies at once and
// which need a restart, and hashes the cluster-wide part of a configuration
// (Hash) so that nodes can gossip it and status can name the nodes whose
// configuration differs. It performs no I/O.
package reload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"sort"

	"github.com/vigil-ha/vigil/configs"
)

// MetaKey is the gossiped node-metadata key holding Hash of the running
// configuration.
const MetaKey = "cfg"

// wide is the part of a configuration that must be the same on every node:
// everything but the node's own name, paths, listeners and log level.
// Secrets (fence passwords, the gossip key) are left out: a hash of them
// would be gossiped, and the keyring is rotated apart (`vigil keyring`).
type wide struct {
	Name        string
	Timing      configs.Timing
	TwoNode     bool
	Nodes       []configs.Node
	Fences      []fence
	Groups      []configs.Group
	Checks      []configs.Check
	Orders      []configs.Order
	Colocations []configs.Colocation
	Maintenance bool
	Alerts      []configs.Alert
}

type fence struct {
	configs.Fence
	Secrets []string // names only
}

// Hash returns a short hash of c's cluster-wide settings (16 hex digits).
func Hash(c *configs.Config) string {
	w := wide{Name: c.Cluster.Name, Timing: c.Cluster.Timing, TwoNode: c.Cluster.TwoNode, Nodes: c.Nodes,
		Groups: c.Groups, Checks: c.Checks, Orders: c.Orders, Colocations: c.Colocations,
		Maintenance: c.Maintenance, Alerts: c.Alerts}
	for _, f := range c.Fences {
		x := fence{Fence: f}
		x.Fence.Secrets = nil
		for k := range f.Secrets {
			x.Secrets = append(x.Secrets, k)
		}
		sort.Strings(x.Secrets)
		w.Fences = append(w.Fences, x)
	}
	b, err := json.Marshal(w) // map keys are sorted: the encoding is canonical
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// Change is one changed section of the configuration.
type Change struct {
	Section string `json:"section"`
	// Live: the running agent applies it at once; otherwise it needs a
	// restart of the agent and Why says what to do.
	Live bool   `json:"live"`
	Why  string `json:"why,omitempty"`
}

const restart = "needs a restart of the agent (rolling: one node at a time, standby node first, `vigil status` healthy in between)"

// Diff lists what differs from old to new, section by section, in a fixed
// order. Certificates whose file names did not change are not compared here:
// the agent re-reads them on every reload.
func Diff(old, new *configs.Config) []Change {
	var out []Change
	add := func(section string, a, b any, live bool, why string) {
		if equal(a, b) {
			return
		}
		if !live && why == "" {
			why = restart
		}
		out = append(out, Change{Section: section, Live: live, Why: why})
	}
	add("log_level", old.LogLevel, new.LogLevel, true, "")
	add("node_name", old.NodeName, new.NodeName, false, "is the node's identity: a renamed node is a new member (`vigil node add`)")
	add("data_dir", old.DataDir, new.DataDir, false, "")
	add("cluster.name", old.Cluster.Name, new.Cluster.Name, false, "")
	add("cluster.bind", old.Cluster.Bind, new.Cluster.Bind, false, "")
	add("cluster.heartbeat", old.Cluster.Heartbeat, new.Cluster.Heartbeat, false, "")
	add("cluster.gossip_key_file", old.Cluster.GossipKey, new.Cluster.GossipKey, false,
		"is not reloaded: rotate the running key with `vigil keyring install|use|remove` (the keyring in data_dir wins at restart)")
	add("cluster.tls", old.Cluster.TLS, new.Cluster.TLS, false,
		"file names changed: needs a restart (certificates at the same paths are re-read by every reload)")
	add("cluster.timing", old.Cluster.Timing, new.Cluster.Timing, false, "")
	add("cluster.two_node", old.Cluster.TwoNode, new.Cluster.TwoNode, false, "")
	add("cluster.api", old.Cluster.API, new.Cluster.API, false, "")
	add("telemetry", old.Telemetry, new.Telemetry, false, "")
	add("node", old.Nodes, new.Nodes, false,
		"needs `vigil node add|remove` and a restart of the agents (rolling, docs/operations.md)")
	add("fence", old.Fences, new.Fences, true, "")
	add("group", old.Groups, new.Groups, true, "")
	add("check", old.Checks, new.Checks, true, "")
	add("order/colocate", [2]any{old.Orders, old.Colocations}, [2]any{new.Orders, new.Colocations}, true, "")
	add("maintenance", old.Maintenance, new.Maintenance, false,
		"is only read at first start; switch the live flag with `vigil maintenance on|off`")
	add("alert", old.Alerts, new.Alerts, true, "")
	return out
}

// Merge returns the configuration a running agent switches to on reload:
// running, with the sections a reload applies live taken from next (log
// level, groups and their resources and checks, node-wide checks, order and
// colocation constraints, fence devices, alerts). Everything else (node
// identity, nodes, listeners, paths, TLS file names, timing, two_node)
// stays as the agent started: those wait for a restart.
func Merge(running, next *configs.Config) *configs.Config {
	m := *running
	m.LogLevel = next.LogLevel
	m.Groups, m.Checks = next.Groups, next.Checks
	m.Orders, m.Colocations = next.Orders, next.Colocations
	m.Fences, m.Alerts = next.Fences, next.Alerts
	return &m
}

// equal compares two sections; nil and empty slices/maps are the same.
func equal(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(normalize(x), normalize(y))
}

func normalize(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("null"), []byte("[]"))
	return bytes.ReplaceAll(b, []byte("{}"), []byte("[]"))
}
