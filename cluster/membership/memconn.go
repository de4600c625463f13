package membership

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipeBuf is one direction of a memConn. Writes never block (a socket's send
// buffer is plenty for memberlist's small messages); reads wait for data,
// EOF or the read deadline.
type pipeBuf struct {
	mu     sync.Mutex
	data   []byte
	eof    bool // writer closed
	broken bool // reader closed
	wake   chan struct{}
}

func newPipeBuf() *pipeBuf { return &pipeBuf{wake: make(chan struct{}, 1)} }

func (p *pipeBuf) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// memConn is one end of an in-memory stream. Writes fail once a drop rule
// covers the path, as an established TCP connection would stall and reset.
type memConn struct {
	in, out       *pipeBuf
	n             *MemNetwork
	from, to      string
	local, remote net.Addr

	mu       sync.Mutex
	deadline time.Time // read deadline
}

func memConnPair(n *MemNetwork, from, to string, fromAddr, toAddr net.Addr) (*memConn, *memConn) {
	x, y := newPipeBuf(), newPipeBuf()
	return &memConn{in: x, out: y, n: n, from: from, to: to, local: fromAddr, remote: toAddr},
		&memConn{in: y, out: x, n: n, from: to, to: from, local: toAddr, remote: fromAddr}
}

func (c *memConn) Read(b []byte) (int, error) {
	for {
		c.in.mu.Lock()
		switch {
		case c.in.broken:
			c.in.mu.Unlock()
			return 0, net.ErrClosed
		case len(c.in.data) > 0:
			n := copy(b, c.in.data)
			c.in.data = c.in.data[n:]
			c.in.mu.Unlock()
			return n, nil
		case c.in.eof:
			c.in.mu.Unlock()
			return 0, io.EOF
		}
		c.in.mu.Unlock()

		c.mu.Lock()
		dl := c.deadline
		c.mu.Unlock()
		var timeout <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		select {
		case <-c.in.wake:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (c *memConn) Write(b []byte) (int, error) {
	if c.n.dropped(c.from, c.to) {
		_ = c.Close()
		return 0, errors.New("mem: connection reset by partition")
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if c.out.eof {
		return 0, net.ErrClosed
	}
	if c.out.broken {
		return 0, errors.New("mem: broken pipe")
	}
	c.out.data = append(c.out.data, b...)
	c.out.poke()
	return len(b), nil
}

func (c *memConn) Close() error {
	for _, p := range []*pipeBuf{c.in, c.out} {
		p.mu.Lock()
		if p == c.in {
			p.broken = true
		} else {
			p.eof = true
		}
		p.mu.Unlock()
		p.poke()
	}
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	c.in.poke()
	return nil
}

// SetWriteDeadline is a no-op: writes never block.
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
