package consensus

import (
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// freshConn is an outgoing raft connection that is dialed again, before a
// request, when the peer closed it while it sat idle in raft's connection
// pool.
//
// raft keeps a few connections per peer and takes one for each vote, pre-vote,
// heartbeat or leadership transfer without checking it. A peer that
// restarted (a rolling restart) closed its side; the next request on the old
// connection gets EOF, and raft does not retry: a candidate loses its
// election and waits out an election timeout, a transfer's target is not
// voted in. Followers send nothing between elections, so their pooled
// connections are exactly the stale ones when it matters.
//
// Only a request/response exchange is redialed: raft's genericRPC (and
// InstallSnapshot) set a deadline with SetDeadline right before writing a
// request on a connection nobody else uses; its pipeline sets only read
// and write deadlines and keeps requests in flight, which must never move
// to another connection. A request is redialed only once a response has
// been read on the connection (a connection just dialed may still hold the
// server's TLS session tickets, unread), and only if the kernel already
// has the peer's FIN, reset or unsolicited data for it: nothing is in
// flight on an idle request/response connection.
type freshConn struct {
	net.Conn
	redial   func(deadline time.Time) (net.Conn, error)
	deadline time.Time
	armed    atomic.Bool // SetDeadline came: the next Write starts a request
	answered atomic.Bool // a response was read on this connection
}

func newFreshConn(c net.Conn, redial func(time.Time) (net.Conn, error)) *freshConn {
	return &freshConn{Conn: c, redial: redial}
}

func (c *freshConn) SetDeadline(t time.Time) error {
	c.deadline = t
	c.armed.Store(true)
	return c.Conn.SetDeadline(t)
}

func (c *freshConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered.Store(true)
	}
	return n, err
}

func (c *freshConn) Write(p []byte) (int, error) {
	if c.armed.Swap(false) && c.answered.Load() && closedByPeerNow(c.Conn) {
		if nc, err := c.redial(c.deadline); err == nil {
			_ = c.Conn.Close()
			_ = nc.SetDeadline(c.deadline)
			c.Conn = nc
			c.answered.Store(false)
		}
		// A failed redial writes on the old connection and fails there,
		// as it would have without this check.
	}
	return c.Conn.Write(p)
}

// closedByPeerNow peeks at the socket under c without blocking: end of
// stream, an error or data nobody asked for mean the peer is gone (or
// talking nonsense) and the connection is of no use.
func closedByPeerNow(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var closed bool
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = e == nil || !(errors.Is(e, syscall.EAGAIN) || errors.Is(e, syscall.EINTR))
		return true // never wait for readiness
	})
	return closed || err != nil
}
