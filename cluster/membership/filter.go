package membership

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// filterTransport drops heartbeat packets and streams whose source is not a
// configured peer (or this node) before memberlist reads them, so that
// strangers cost no decryption and no log lines. memberlist v0.6.0 checks
// its CIDRsAllowed only when handling an alive message, after decryption.
type filterTransport struct {
	memberlist.NodeAwareTransport
	allowed map[string]bool // IPs
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	local   net.IP // our heartbeat IP: streams we open leave from it
	once    sync.Once
	wg      sync.WaitGroup
	dropped atomic.Uint64
}

func newFilterTransport(inner memberlist.NodeAwareTransport, self string, peers []string) *filterTransport {
	f := &filterTransport{NodeAwareTransport: inner, allowed: map[string]bool{},
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), stop: make(chan struct{})}
	if h, _, err := net.SplitHostPort(self); err == nil {
		f.local = net.ParseIP(h)
	}
	allowedHostPorts := append([]string{self}, peers...)
	for _, hp := range allowedHostPorts {
		if h, _, err := net.SplitHostPort(hp); err == nil {
			if ip := net.ParseIP(h); ip != nil {
				f.allowed[ip.String()] = true
			}
		}
	}
	return f
}

// start runs the filter loops until Shutdown.
func (f *filterTransport) start() {
	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		for {
			select {
			case p := <-f.NodeAwareTransport.PacketCh():
				if !f.ok(p.From) {
					f.dropped.Add(1)
					continue
				}
				select {
				case f.packets <- p:
				case <-f.stop:
					return
				}
			case <-f.stop:
				return
			}
		}
	}()
	go func() {
		defer f.wg.Done()
		for {
			select {
			case c := <-f.NodeAwareTransport.StreamCh():
				if !f.ok(c.RemoteAddr()) {
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
			case <-f.stop:
				return
			}
		}
	}()
}

func (f *filterTransport) ok(a net.Addr) bool {
	if a == nil {
		return false
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && f.allowed[ip.String()]
}

// DialAddressTimeout opens streams (push/pull, TCP fallback pings) from our
// heartbeat IP, so that peers see the source address they filter on (the
// kernel would otherwise pick one by route, e.g. 127.0.0.1 on loopback).
func (f *filterTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return f.DialTimeout(a.Addr, timeout)
}

func (f *filterTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if f.local != nil {
		d.LocalAddr = &net.TCPAddr{IP: f.local}
	}
	return d.Dial("tcp", addr)
}

func (f *filterTransport) PacketCh() <-chan *memberlist.Packet { return f.packets }
func (f *filterTransport) StreamCh() <-chan net.Conn           { return f.streams }

// Dropped counts packets and streams from strangers.
func (f *filterTransport) Dropped() uint64 { return f.dropped.Load() }

func (f *filterTransport) Shutdown() error {
	err := f.NodeAwareTransport.Shutdown()
	f.once.Do(func() { close(f.stop) })
	f.wg.Wait()
	return err
}
