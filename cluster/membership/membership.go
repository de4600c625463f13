// Package membership runs hashicorp/memberlist on the dedicated heartbeat link.
// It keeps a local, sorted view of every node seen (alive, suspect, dead or
// left) with its gossiped metadata, re-joins configured peers that drop out,
// and signals changes on a coalescing channel. It takes no decisions: the
// coordinator combines this view with raft contact (DESIGN.md invariant 6).
package membership

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/configs"
)

// MaxMetaSize is the largest encoded Meta memberlist will gossip.
const MaxMetaSize = memberlist.MetaMaxSize

// ErrNotRunning is returned by UpdateMeta when Run is not (or no longer) active.
var ErrNotRunning = errors.New("membership: not running")

// Meta is the node metadata gossiped with the node.
type Meta struct {
	Role    string            // "node" | "witness"
	Version string            // vigil version
	Standby bool              // node is in standby (drained on purpose)
	Health  map[string]bool   // group name (or "" for node-wide) -> healthy on this node
	Extra   map[string]string // small free-form facts
}

// State is a member's liveness as seen from this node.
type State string

// Member states.
const (
	// StateAlive: memberlist considers the node alive and our direct pings succeed.
	StateAlive State = "alive"
	// StateSuspect: memberlist still considers the node alive, but our own
	// direct pings to it failed suspectAfter times in a row. memberlist v0.6.0
	// does not expose its internal suspect state, so this is our own signal;
	// a node reachable only indirectly (a broken direct path) stays suspect.
	StateSuspect State = "suspect"
	// StateDead: memberlist declared the node failed.
	StateDead State = "dead"
	// StateLeft: the node left on purpose (it announced it before leaving).
	StateLeft State = "left"
)

// Member is one node as seen from here.
type Member struct {
	Name  string
	Addr  string // heartbeat ip:port as memberlist knows it
	State State
	Meta  Meta
	Since time.Time // when State last changed, local clock
}

// Config configures a Membership.
type Config struct {
	Name     string
	BindAddr string   // ip:port of the heartbeat link (never 0.0.0.0); advertised as-is
	Peers    []string // heartbeat ip:port of every other node (join targets)
	Key      []byte   // AES-GCM gossip key (16/24/32 bytes); nil only in dev
	Label    string   // cluster name; bound into every packet
	Timing   configs.Timing
	// Meta is called from memberlist's NodeMeta: it must be cheap and not block.
	Meta   func() Meta
	Logger hclog.Logger
	// Transport: nil means real UDP/TCP on BindAddr; tests pass a MemTransport.
	Transport memberlist.NodeAwareTransport
	// Keyring, if set, is used instead of Key (cluster/keyring rotates it).
	Keyring *memberlist.Keyring
}

// peerResolver is implemented by transports with their own address space
// (MemTransport), so that host names like "n1:7301" map to the IP memberlist
// advertises.
type peerResolver interface {
	Resolve(hostport string) (string, error)
}

// suspectAfter is how many consecutive failed direct pings make a node suspect.
const suspectAfter = 2

// Membership tracks cluster members over memberlist. Create with New, start
// with Run.
type Membership struct {
	cfg    Config
	log    hclog.Logger
	self   string   // our advertised ip:port
	peers  []string // configured peers, resolved to ip:port, self removed
	mlConf *memberlist.Config

	ready   chan struct{}
	changes chan struct{}
	lost    chan struct{} // a member stopped being alive: the rejoin loop wakes
	started atomic.Bool
	events  eventQueue

	// life guards list against Leave/Shutdown while UpdateMeta uses it.
	life    sync.RWMutex
	updMu   sync.Mutex // one UpdateNode at a time: memberlist's reads our node's record unlocked
	list    *memberlist.Memberlist
	leaving atomic.Bool // set before Leave so our last Meta says "left on purpose"
	noLeave bool        // tests: stop like a crash (Shutdown without Leave)

	mu        sync.Mutex
	members   map[string]*record
	lastRound time.Time     // when pingRound last started
	pings     atomic.Uint64 // direct pings pingRound sent (tests: what the link carries)

	metaMu   sync.Mutex
	lastMeta []byte // last encoding that fit, served if Meta() grows too big

	sink   *logSink                        // memberlist's log lines: rate limited, peer errors kept
	filter atomic.Pointer[filterTransport] // set by Run on the real network
}

type record struct {
	Member
	raw        []byte // meta bytes Member.Meta was decoded from
	leaving    bool   // the node's last meta announced a deliberate leave
	mlAlive    bool   // memberlist considers it alive
	pingFails  int
	configured bool
	directAck  time.Time // memberlist's own probe was last answered directly then
}

// New validates cfg and builds a Membership. It starts nothing.
func New(cfg Config) (*Membership, error) {
	if cfg.Name == "" {
		return nil, errors.New("membership: Name is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Meta == nil {
		cfg.Meta = func() Meta { return Meta{} }
	}
	switch len(cfg.Key) {
	case 0, 16, 24, 32:
	default:
		return nil, fmt.Errorf("membership: gossip key must be 16, 24 or 32 bytes, got %d", len(cfg.Key))
	}
	if len(cfg.Label) > 255 {
		return nil, errors.New("membership: Label longer than 255 bytes")
	}
	if err := validTiming(cfg.Timing); err != nil {
		return nil, err
	}
	if b, err := encodeMeta(cfg.Meta(), false); err != nil {
		return nil, err
	} else if len(b) > MaxMetaSize {
		return nil, fmt.Errorf("membership: initial meta is %d bytes, limit %d", len(b), MaxMetaSize)
	}

	resolve := func(hp string) (string, error) { return ipHostPort(hp) }
	if r, ok := cfg.Transport.(peerResolver); ok {
		resolve = r.Resolve
	}
	self, err := resolve(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("membership: BindAddr: %w", err)
	}
	if cfg.Transport != nil {
		// A custom transport decides what memberlist advertises; use that
		// to recognise ourselves in Peers and in events.
		h, p, _ := net.SplitHostPort(self)
		port, _ := strconv.Atoi(p)
		ip, aport, err := cfg.Transport.FinalAdvertiseAddr(h, port)
		if err != nil {
			return nil, fmt.Errorf("membership: transport advertise address: %w", err)
		}
		self = net.JoinHostPort(ip.String(), strconv.Itoa(aport))
	}
	m := &Membership{
		cfg:     cfg,
		log:     cfg.Logger,
		self:    self,
		ready:   make(chan struct{}),
		changes: make(chan struct{}, 1),
		lost:    make(chan struct{}, 1),
		members: make(map[string]*record),
		sink:    newLogSink(cfg.Logger),
	}
	seen := map[string]bool{self: true}
	for _, p := range cfg.Peers {
		rp, err := resolve(p)
		if err != nil {
			return nil, fmt.Errorf("membership: peer %q: %w", p, err)
		}
		if !seen[rp] {
			seen[rp] = true
			m.peers = append(m.peers, rp)
		}
	}
	m.mlConf, err = m.memberlistConfig()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ipHostPort checks that hp is a usable ip:port (no wildcard, no port 0).
func ipHostPort(hp string) (string, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", fmt.Errorf("%q is not an IP address", host)
	}
	if ip.IsUnspecified() {
		return "", fmt.Errorf("%q is a wildcard address; bind the heartbeat link's own IP", host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(p)), nil
}

func validTiming(t configs.Timing) error {
	switch {
	case t.ProbeInterval < 0, t.ProbeTimeout < 0, t.GossipInterval < 0, t.SuspicionMult < 0:
		return errors.New("membership: negative timing value")
	case t.ProbeInterval > 0 && t.ProbeTimeout > t.ProbeInterval:
		return fmt.Errorf("membership: probe timeout %s exceeds probe interval %s", t.ProbeTimeout, t.ProbeInterval)
	}
	return nil
}

// Ready is closed once memberlist is running and the first join attempt is
// done (never, if Run fails to start memberlist).
func (m *Membership) Ready() <-chan struct{} { return m.ready }

// Changes receives (coalesced) whenever Members() may have changed.
func (m *Membership) Changes() <-chan struct{} { return m.changes }

// Members returns every known node, including dead and left ones and
// ourselves, sorted by name.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, r := range m.members {
		mb := r.Member
		mb.Meta = cloneMeta(mb.Meta)
		out = append(out, mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UpdateMeta re-broadcasts our Meta; call it after Meta() output changed. It
// waits up to timeout for the broadcast to go out. Never call it from a
// memberlist callback.
func (m *Membership) UpdateMeta(timeout time.Duration) error {
	b, err := encodeMeta(m.cfg.Meta(), false)
	if err != nil {
		return err
	}
	if len(b) > MaxMetaSize {
		return fmt.Errorf("membership: meta is %d bytes, limit %d", len(b), MaxMetaSize)
	}
	m.life.RLock()
	defer m.life.RUnlock()
	if m.list == nil {
		return ErrNotRunning
	}
	m.updMu.Lock()
	defer m.updMu.Unlock()
	if err := m.list.UpdateNode(timeout); err != nil {
		return fmt.Errorf("membership: update meta: %w", err)
	}
	return nil
}

func (m *Membership) signal() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

func cloneMeta(in Meta) Meta {
	out := in
	if in.Health != nil {
		out.Health = make(map[string]bool, len(in.Health))
		for k, v := range in.Health {
			out.Health[k] = v
		}
	}
	if in.Extra != nil {
		out.Extra = make(map[string]string, len(in.Extra))
		for k, v := range in.Extra {
			out.Extra[k] = v
		}
	}
	return out
}
