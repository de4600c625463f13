package membership

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// filterTransport is the heartbeat link's UDP and TCP transport. It drops
// packets and streams whose source is not a configured peer (or this node)
// in the goroutine that read them, before memberlist sees them, so that
// strangers cost no decryption and no log lines (memberlist v0.6.0 checks
// its CIDRsAllowed only when handling an alive message, after decryption).
// It replaces memberlist's NetTransport rather than wrapping it: a wrapper
// would hand every packet from NetTransport's reader to a goroutine of its
// own and then to memberlist's, a wake-up more per packet on an idle agent
// (design.md, Idle cost).
type filterTransport struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	allowed map[string]bool // IPs
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	stopped atomic.Bool
	once    sync.Once
	wg      sync.WaitGroup
	dropped atomic.Uint64
	log     hclog.Logger
}

// udpPacketMax is the largest datagram read (memberlist's own limit).
const udpPacketMax = 65536

// udpRecvBuf is the socket receive buffer asked for (memberlist's size),
// halved until the kernel takes it.
const udpRecvBuf = 2 * 1024 * 1024

// listenFiltered binds self (an ip:port) on UDP and TCP; peers are the
// ip:ports allowed to talk to it. Start runs its readers.
func listenFiltered(self string, peers []string, log hclog.Logger) (*filterTransport, error) {
	ua, err := net.ResolveUDPAddr("udp", self)
	if err != nil {
		return nil, err
	}
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ua.IP, Port: ua.Port})
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		_ = tcp.Close()
		return nil, err
	}
	for size := udpRecvBuf; size > 0; size /= 2 {
		if udp.SetReadBuffer(size) == nil {
			break
		}
	}
	f := &filterTransport{udp: udp, tcp: tcp, allowed: map[string]bool{}, log: log,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), stop: make(chan struct{})}
	for _, hp := range append([]string{self}, peers...) {
		if h, _, err := net.SplitHostPort(hp); err == nil {
			if ip := net.ParseIP(h); ip != nil {
				f.allowed[ip.String()] = true
			}
		}
	}
	return f, nil
}

// start runs the readers until Shutdown.
func (f *filterTransport) start() {
	f.wg.Add(2)
	go func() { defer f.wg.Done(); f.readPackets() }()
	go func() { defer f.wg.Done(); f.acceptStreams() }()
}

func (f *filterTransport) readPackets() {
	buf := make([]byte, udpPacketMax)
	for {
		n, from, err := f.udp.ReadFromUDP(buf)
		at := time.Now() // as close to the read as can be: memberlist times acks with it
		if err != nil {
			if f.stopped.Load() {
				return
			}
			f.log.Error("heartbeat link: read", "error", err)
			continue
		}
		if n < 1 {
			continue
		}
		if !f.allowedIP(from.IP) {
			f.dropped.Add(1)
			continue
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: at}
		select {
		case f.packets <- p:
		case <-f.stop:
			return
		}
	}
}

func (f *filterTransport) acceptStreams() {
	var pause time.Duration // after an accept error: 5 ms doubling to 1 s, as memberlist
	for {
		c, err := f.tcp.AcceptTCP()
		if err != nil {
			if f.stopped.Load() {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			f.log.Error("heartbeat link: accept", "error", err)
			select {
			case <-time.After(pause):
			case <-f.stop:
				return
			}
			continue
		}
		pause = 0
		if a, ok := c.RemoteAddr().(*net.TCPAddr); !ok || !f.allowedIP(a.IP) {
			f.dropped.Add(1)
			_ = c.Close()
			continue
		}
		select {
		case f.streams <- c:
		case <-f.stop:
			_ = c.Close()
			return
		}
	}
}

func (f *filterTransport) allowedIP(ip net.IP) bool {
	return ip != nil && f.allowed[ip.String()]
}

// FinalAdvertiseAddr advertises what memberlist was told to (vigil always
// tells it the bound address), else the bound address.
func (f *filterTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		a := f.tcp.Addr().(*net.TCPAddr)
		return a.IP, a.Port, nil
	}
	a := net.ParseIP(ip)
	if a == nil {
		return nil, 0, fmt.Errorf("advertise address %q is no IP", ip)
	}
	if a4 := a.To4(); a4 != nil {
		a = a4
	}
	return a, port, nil
}

func (f *filterTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = f.udp.WriteTo(b, a)
	return time.Now(), err
}

func (f *filterTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return f.WriteTo(b, a.Addr)
}

// DialTimeout opens streams (push/pull, TCP fallback pings) from our
// heartbeat IP, so that peers see the source address they filter on (the
// kernel would otherwise pick one by route, e.g. 127.0.0.1 on loopback).
func (f *filterTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: f.tcp.Addr().(*net.TCPAddr).IP}}
	return d.Dial("tcp", addr)
}

func (f *filterTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return f.DialTimeout(a.Addr, timeout)
}

func (f *filterTransport) PacketCh() <-chan *memberlist.Packet { return f.packets }
func (f *filterTransport) StreamCh() <-chan net.Conn           { return f.streams }

// Dropped counts packets and streams from strangers.
func (f *filterTransport) Dropped() uint64 { return f.dropped.Load() }

// Shutdown closes both sockets and waits for the readers.
func (f *filterTransport) Shutdown() error {
	var err error
	f.once.Do(func() {
		f.stopped.Store(true)
		close(f.stop)
		err = errors.Join(f.tcp.Close(), f.udp.Close())
	})
	f.wg.Wait()
	return err
}
