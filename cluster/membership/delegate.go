package membership

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// memberlistConfig starts from DefaultLANConfig and applies our timing.
func (m *Membership) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	c.Name = m.cfg.Name
	c.Label = m.cfg.Label
	// A keyring (rotatable with `vigil keyring`) replaces the single key;
	// memberlist would make a SecretKey set beside it the primary again.
	if m.cfg.Keyring != nil {
		c.Keyring = m.cfg.Keyring
	} else if len(m.cfg.Key) > 0 {
		c.SecretKey = append([]byte(nil), m.cfg.Key...)
	}
	t := m.cfg.Timing
	if t.ProbeInterval > 0 {
		c.ProbeInterval = t.ProbeInterval
	}
	if t.ProbeTimeout > 0 {
		c.ProbeTimeout = t.ProbeTimeout
	}
	if t.SuspicionMult > 0 {
		c.SuspicionMult = t.SuspicionMult
	}
	if t.GossipInterval > 0 {
		c.GossipInterval = t.GossipInterval
	}
	// A stream (push/pull, join, TCP ping fallback) to a peer on the same
	// link should never need more than a couple of probe intervals.
	c.TCPTimeout = max(2*c.ProbeInterval, 500*time.Millisecond)
	c.PushPullInterval = 15 * time.Second
	c.RetransmitMult = 3
	// Our messages are a few hundred bytes on a dedicated link: compressing
	// each one (LZW, a fresh 16 KiB+ table per message) cost more CPU at idle
	// than sending it. Receivers decompress by message type, so mixed
	// versions still understand each other.
	c.EnableCompression = false

	// Rate limited, with peer errors kept and levels set for what vigil
	// reports itself (logsink.go).
	c.Logger = log.New(m.sink, "", 0)
	d := &delegate{m: m}
	c.Delegate = d
	c.Events = d
	c.Conflict = d
	c.Ping = d

	host, portStr, err := net.SplitHostPort(m.self)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	port, _ := strconv.Atoi(portStr)
	if m.cfg.Transport != nil {
		c.Transport = m.cfg.Transport
	} else {
		// Bind exactly the link's IP and advertise it as-is (memberlist#282).
		c.BindAddr, c.BindPort = host, port
		c.AdvertiseAddr, c.AdvertisePort = host, port
		// Only our own link and the configured peers may talk to us. The key
		// already authenticates; Run's filterTransport drops strangers before
		// decryption, this refuses their alive messages as well.
		for _, hp := range append([]string{m.self}, m.peers...) {
			h, _, _ := net.SplitHostPort(hp)
			ip := net.ParseIP(h)
			bits := 8 * len(ip.To16())
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			c.CIDRsAllowed = append(c.CIDRsAllowed, net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
	}
	return c, nil
}

// wireMeta is the gossiped form of Meta; short keys keep it under 512 bytes.
type wireMeta struct {
	Role    string            `json:"r,omitempty"`
	Version string            `json:"v,omitempty"`
	Standby bool              `json:"s,omitempty"`
	Health  map[string]bool   `json:"h,omitempty"`
	Extra   map[string]string `json:"x,omitempty"`
	Leaving bool              `json:"l,omitempty"` // sent just before Leave: tells "left" from "dead"
}

func encodeMeta(meta Meta, leaving bool) ([]byte, error) {
	b, err := json.Marshal(wireMeta{meta.Role, meta.Version, meta.Standby, meta.Health, meta.Extra, leaving})
	if err != nil {
		return nil, fmt.Errorf("membership: encode meta: %w", err)
	}
	return b, nil
}

func decodeMeta(b []byte) (Meta, bool, error) {
	if len(b) == 0 {
		return Meta{}, false, nil
	}
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, false, err
	}
	return Meta{Role: w.Role, Version: w.Version, Standby: w.Standby, Health: w.Health, Extra: w.Extra}, w.Leaving, nil
}

// delegate implements memberlist's Delegate, EventDelegate and
// ConflictDelegate. Event callbacks run with memberlist's node lock held, so
// they only copy the node into our queue; Run applies it.
type delegate struct{ m *Membership }

func (d *delegate) NodeMeta(limit int) []byte {
	m := d.m
	b, err := encodeMeta(m.cfg.Meta(), m.leaving.Load())
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	if err != nil || len(b) > limit {
		// memberlist panics on oversized meta: keep gossiping the last good one.
		m.log.Error("node meta too large or unencodable, keeping previous", "bytes", len(b), "limit", limit, "error", err)
		return m.lastMeta
	}
	m.lastMeta = b
	return b
}

// AckPayload adds nothing to our acks; NotifyPingComplete notes that
// memberlist's own probe of other was answered directly, which spares
// pingRound its own ping of other that round.
func (d *delegate) AckPayload() []byte { return nil }
func (d *delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	d.m.noteDirectAck(other.Name, time.Now())
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.push(evJoin, n) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.push(evUpdate, n) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.push(evLeave, n) }

func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.log.Warn("two nodes claim the same name", "name", existing.Name,
		"existing", existing.Address(), "other", other.Address())
}

func (d *delegate) push(kind eventKind, n *memberlist.Node) {
	d.m.events.push(event{
		kind: kind,
		name: n.Name,
		addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		meta: append([]byte(nil), n.Meta...),
		// v0.6.0 never fills Node.State (its nodeState.State shadows it);
		// honour it should a later version report StateLeft.
		left: n.State == memberlist.StateLeft,
		at:   time.Now(),
	})
	d.m.events.poke()
}

type eventKind int

const (
	evJoin eventKind = iota
	evUpdate
	evLeave
)

type event struct {
	kind eventKind
	name string
	addr string
	meta []byte
	left bool
	at   time.Time
}

// eventQueue is unbounded so memberlist's callbacks never block or drop.
type eventQueue struct {
	mu   sync.Mutex
	q    []event
	wake chan struct{}
	once sync.Once
}

func (e *eventQueue) ch() chan struct{} {
	e.once.Do(func() { e.wake = make(chan struct{}, 1) })
	return e.wake
}

func (e *eventQueue) push(ev event) {
	e.mu.Lock()
	e.q = append(e.q, ev)
	e.mu.Unlock()
}

func (e *eventQueue) poke() {
	select {
	case e.ch() <- struct{}{}:
	default:
	}
}

func (e *eventQueue) drain() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.q
	e.q = nil
	return q
}
