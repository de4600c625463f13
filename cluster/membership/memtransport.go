package membership

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemNetwork is an in-memory network of MemTransports with drop rules, for
// multi-node tests without sockets. Host names ("n1:7301") are mapped to
// fake IPs in 198.18.0.0/15 because memberlist advertises an IP; addresses
// that already are IPs are used as they are.
type MemNetwork struct {
	mu       sync.Mutex
	ips      map[string]net.IP // host name -> fake IP
	nextIP   int
	nodes    map[string]*MemTransport // canonical ip:port -> transport
	isolated map[string]bool
	cut      map[[2]string]bool // both orders stored
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{
		ips:      make(map[string]net.IP),
		nodes:    make(map[string]*MemTransport),
		isolated: make(map[string]bool),
		cut:      make(map[[2]string]bool),
	}
}

// Resolve maps addr ("n1:7301" or "ip:port") to the ip:port memberlist uses.
func (n *MemNetwork) Resolve(addr string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.resolveLocked(addr)
}

func (n *MemNetwork) resolveLocked(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("bad port in %q", addr)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ip = n.ips[host]
		if ip == nil {
			n.nextIP++
			ip = net.IPv4(198, 18, byte(n.nextIP>>8), byte(n.nextIP))
			n.ips[host] = ip
		}
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// Transport creates (or replaces, for a restart) the transport at addr.
func (n *MemNetwork) Transport(addr string) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	key, err := n.resolveLocked(addr)
	if err != nil {
		panic(fmt.Sprintf("membership: bad MemTransport address %q: %v", addr, err))
	}
	h, p, _ := net.SplitHostPort(key)
	port, _ := strconv.Atoi(p)
	t := &MemTransport{
		net:      n,
		key:      key,
		ip:       net.ParseIP(h),
		port:     port,
		packetCh: make(chan *memberlist.Packet, 512),
		streamCh: make(chan net.Conn, 16),
		done:     make(chan struct{}),
	}
	n.nodes[key] = t
	return t
}

// Partition drops all traffic both ways between a and b.
func (n *MemNetwork) Partition(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ka, _ := n.resolveLocked(a)
	kb, _ := n.resolveLocked(b)
	n.cut[[2]string{ka, kb}] = true
	n.cut[[2]string{kb, ka}] = true
}

// Isolate drops all traffic to and from a.
func (n *MemNetwork) Isolate(a string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k, _ := n.resolveLocked(a)
	n.isolated[k] = true
}

// Heal removes every drop rule.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated = make(map[string]bool)
	n.cut = make(map[[2]string]bool)
}

// route returns the live transport at dst, whether traffic from src to it
// is dropped, and whether dst is unknown or shut down.
func (n *MemNetwork) route(src, dst string) (t *MemTransport, dropped bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	key, err := n.resolveLocked(dst)
	if err != nil {
		return nil, false, err
	}
	if n.isolated[src] || n.isolated[key] || n.cut[[2]string{src, key}] {
		return nil, true, nil
	}
	t = n.nodes[key]
	if t == nil || t.closed() || !t.listening.Load() {
		return nil, false, fmt.Errorf("mem: connection refused by %s", key)
	}
	return t, false, nil
}

func (n *MemNetwork) dropped(src, dst string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.isolated[src] || n.isolated[dst] || n.cut[[2]string{src, dst}]
}

// MemTransport is a memberlist.NodeAwareTransport on a MemNetwork: packets
// go through buffered channels (dropped when full, like UDP), streams are
// in-memory byte streams that buffer writes like a socket does. A dial into a drop rule hangs until its timeout, like a
// black-holed TCP SYN.
type MemTransport struct {
	net      *MemNetwork
	key      string
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
	// listening: memberlist has started reading (like listen(2)); before
	// that, dials are refused and packets lost.
	listening atomic.Bool
}

var _ memberlist.NodeAwareTransport = (*MemTransport)(nil)

// Resolve lets Membership map configured peer names to fake IPs.
func (t *MemTransport) Resolve(addr string) (string, error) { return t.net.Resolve(addr) }

// FinalAdvertiseAddr advertises the transport's (fake) IP and port.
func (t *MemTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo sends a packet to addr.
func (t *MemTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet; like UDP, loss is silent.
func (t *MemTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.closed() {
		return now, errors.New("mem: transport shut down")
	}
	dst, dropped, err := t.net.route(t.key, a.Addr)
	if dropped || err != nil {
		return now, nil
	}
	p := &memberlist.Packet{
		Buf:       append([]byte(nil), b...),
		From:      &net.UDPAddr{IP: t.ip, Port: t.port},
		Timestamp: now,
	}
	select {
	case dst.packetCh <- p:
	default:
	}
	return now, nil
}

// PacketCh delivers incoming packets.
func (t *MemTransport) PacketCh() <-chan *memberlist.Packet {
	t.listening.Store(true)
	return t.packetCh
}

// DialTimeout opens a stream to addr.
func (t *MemTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream; dials into a drop rule time out.
func (t *MemTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	dst, dropped, err := t.net.route(t.key, a.Addr)
	if err != nil {
		return nil, err
	}
	if dropped {
		select {
		case <-timer.C:
		case <-t.done:
		}
		return nil, fmt.Errorf("mem: dial %s: %w", a.Addr, os.ErrDeadlineExceeded)
	}
	la := &net.TCPAddr{IP: t.ip, Port: t.port}
	ra := &net.TCPAddr{IP: dst.ip, Port: dst.port}
	local, remote := memConnPair(t.net, t.key, dst.key, la, ra)
	select {
	case dst.streamCh <- remote:
		return local, nil
	case <-dst.done:
	case <-timer.C:
	case <-t.done:
	}
	_ = local.Close()
	_ = remote.Close()
	return nil, fmt.Errorf("mem: dial %s: not accepted", a.Addr)
}

// StreamCh delivers incoming streams.
func (t *MemTransport) StreamCh() <-chan net.Conn {
	t.listening.Store(true)
	return t.streamCh
}

// Shutdown stops the transport; the address becomes "connection refused".
func (t *MemTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

func (t *MemTransport) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}
