// Package configs loads and validates vigil's HCL configuration into a runtime
// Config. The runtime types here are the contract every other package reads;
// the HCL schema (and its file:line diagnostics) lives beside them.
package configs

import "time"

// Config is the validated runtime configuration of one agent.
type Config struct {
	NodeName string
	DataDir  string
	LogLevel string // trace|debug|info|warn|error
	Dev      bool   // -dev: single node, no TLS/gossip key required

	Cluster     Cluster
	Nodes       []Node // every cluster member, this node included, in file order
	Fences      []Fence
	Groups      []Group
	Checks      []Check // node-wide checks (top-level check blocks, Group == "")
	Orders      []Order
	Colocations []Colocation
	Maintenance bool // cluster-wide maintenance at start-up (the live flag is replicated)

	Telemetry Telemetry // observe.go
	Alerts    []Alert   // observe.go
}

// Cluster holds the cluster-wide settings.
type Cluster struct {
	Name      string // also the memberlist label, keeps clusters apart
	Bind      string // host:port for raft + forwarded API (cluster link)
	Heartbeat string // host:port for memberlist (dedicated heartbeat link)

	GossipKey []byte // read from gossip_key_file (16/24/32 bytes); nil only in dev mode
	TLS       TLS    // raft mutual TLS; empty only in dev mode
	Timing    Timing
	// TwoNode: exactly two voters and no witness; fencing decides who
	// survives a lost peer (docs/design.md, "Two-node clusters").
	TwoNode bool
	// WaitForAll (two_node): a node that starts runs nothing and fences
	// nobody until it has seen its peer once. Default true; false is the
	// operator saying on purpose that a node may start alone.
	WaitForAll bool
	// PriorityFenceDelay (two_node): extra delay before fencing the node
	// that holds the groups, so that in a fence race the holder wins.
	PriorityFenceDelay time.Duration
	// Arbitrator (two_node, optional): the shared tie-breaker
	// (`vigil arbitrator`) a pair may fail over on without fencing.
	Arbitrator Arbitrator

	API API
}

// Arbitrator is where a two_node pair asks for the tie-breaking vote. The
// node's cluster certificate is its client certificate.
type Arbitrator struct {
	Address    string // host:port
	ServerName string // name in the arbitrator's certificate; default the host of Address
	CAFile     string // CA that signed the arbitrator's certificate
}

// TLS names the PEM files for mutual TLS on the cluster link.
type TLS struct {
	CAFile   string
	CertFile string
	KeyFile  string // must not be group/world readable
}

// Empty reports whether no TLS material is configured.
func (t TLS) Empty() bool { return t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" }

// API is where the agent serves its HTTP/JSON API.
type API struct {
	Socket  string // unix socket path; default <data_dir>/vigil.sock, mode 0600
	Address string // optional TCP host:port, served with mTLS using Cluster.TLS
}

// Timing is a resolved timing preset (fast|lan|wan) with any overrides applied.
type Timing struct {
	Preset string

	// memberlist (heartbeat link)
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	GossipInterval time.Duration

	// raft (cluster link)
	RaftHeartbeatTimeout time.Duration
	RaftElectionTimeout  time.Duration
	RaftLeaderLease      time.Duration
	RaftCommitTimeout    time.Duration
	RaftTransportTimeout time.Duration // per-RPC I/O deadline on the cluster link

	// Lease: how long a follower may keep running resources without hearing from
	// the leader, and how long a new leader waits before reassigning an
	// unfenced node's groups (DESIGN.md invariant 3).
	Lease time.Duration
}

// Node is one cluster member.
type Node struct {
	Name          string
	Address       string // raft/cluster host:port
	Heartbeat     string // memberlist host:port
	Witness       bool   // votes, never hosts resources
	Fence         []FenceLevel
	FenceDelay    time.Duration // static delay before fencing THIS node (two-node races)
	FenceDelayMax time.Duration // plus a random delay in [0, FenceDelayMax)
}

// FenceLevel is one fencing level: every device in it must succeed.
type FenceLevel struct {
	Devices []string
}

// Fence is one fencing device.
type Fence struct {
	Type    string // ipmi | exec | aws
	Name    string
	Params  map[string]string // type-specific, keys validated against the type's schema
	Secrets map[string][]byte // contents of *_file keys (password_file...), never logged
	Timeout time.Duration
	Retries int
	// MonitorInterval is how often the device is checked (its status
	// operation), like Pacemaker's stonith monitor; 0 turns the check off.
	MonitorInterval time.Duration
	// Action is what a fence does: FenceOff leaves the node off,
	// FenceReboot powers it on again once its fence is committed.
	Action string
}

// Fence actions (fence.action).
const (
	FenceOff    = "off"
	FenceReboot = "reboot"
)

// Group is an ordered set of resources that run together on one node.
type Group struct {
	Name               string
	Prefer             string // preferred node (location score), may be empty
	Failback           bool   // move back when Prefer returns
	MigrationThreshold int    // monitor failures before the group moves (0 = never)
	FailureTimeout     time.Duration
	MinMoveInterval    time.Duration // minimum time between health-driven moves
	Maintenance        bool
	Resources          []Resource
	Checks             []Check
}

// Resource is one managed resource inside a group.
type Resource struct {
	Type   string // ipaddr | exec | ocf | systemd | awseip | awsip | awsroute | ebs
	Name   string
	Params map[string]string // type-specific, keys validated against the type's schema

	StartTimeout    time.Duration
	StopTimeout     time.Duration
	MonitorTimeout  time.Duration
	MonitorInterval time.Duration
	OnFail          string // restart | move | fence | standby | ignore
}

// Check is a health check attached to a group (or node-wide when Group == "").
type Check struct {
	Type     string // http | tcp | exec
	Name     string
	Group    string
	Params   map[string]string
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
}

// Order says group First must be started before group Then.
type Order struct {
	First string
	Then  string
}

// Colocation keeps Group with (Apart=false) or away from (Apart=true) With.
type Colocation struct {
	Group string
	With  string
	Apart bool
}

// Local returns this agent's own node entry.
func (c *Config) Local() Node { return c.Node(c.NodeName) }

// Node returns the entry of the node named name (zero if none: names are
// unique once loaded).
func (c *Config) Node(name string) Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return Node{}
}
