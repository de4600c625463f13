package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// The lease stream carries renewals over one kept connection, one byte each
// way: a follower renews every quarter or eighth of a lease, and an HTTP
// request costs each side several goroutine wake-ups and a few kilobytes
// (a quarter of an idle follower's CPU at the fast preset). A follower opens
// it with an HTTP upgrade on the RPC channel, so the peer is identified
// and authorized as for any call, and a leader of an older version answers
// 404: the follower then renews over HTTP (LeasePath) with that leader.

// LeaseStreamPath is the upgrade endpoint.
const LeaseStreamPath = "/v1/internal/lease/stream"

const (
	leaseStreamProto = "vigil-lease/1"
	leaseAsk         = byte('?') // a renewal
	leaseGranted     = byte('+') // noted: the lease counts from the ask's send
	leaseRefused     = byte('-') // not the leader, or not holding its leader lease
	// leaseStreamIdle: a stream without a renewal this long is closed (its
	// follower gone or elsewhere); the slowest preset renews every 1.25 s.
	leaseStreamIdle = 30 * time.Second
	// leaseStreamRetry: after a leader answered that it has no stream, it is
	// renewed with over HTTP this long before the stream is tried again.
	leaseStreamRetry = time.Minute
)

// errNoLeaseStream: the leader does not serve the stream (an older version).
var errNoLeaseStream = errors.New("leader has no lease stream")

// grant notes a renewal from peer if this node leads and holds its leader
// lease: a deposed leader that raft has not stepped down yet must not
// extend a follower's lease past the next leader's release of its groups.
func (s *Server) grant(peer string) bool {
	return s.d.Raft.IsLeader() && (s.d.Renewed == nil || s.d.Renewed(peer, time.Now()))
}

// leaseStream serves one follower's renewals until it hangs up, goes
// silent for leaseStreamIdle, sends anything but a renewal, or the server
// stops.
func (s *Server) leaseStream(w http.ResponseWriter, r *http.Request) {
	peer := r.Context().Value(peerKey{}).(string)
	if r.Header.Get("Upgrade") != leaseStreamProto {
		writeError(w, http.StatusBadRequest, fmt.Errorf("upgrade to %s expected", leaseStreamProto))
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer conn.Close()
	if sctx, ok := r.Context().Value(serveKey{}).(context.Context); ok {
		defer context.AfterFunc(sctx, func() { _ = conn.Close() })()
	}
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " +
		leaseStreamProto + "\r\n\r\n"); err != nil || rw.Flush() != nil {
		return
	}
	for {
		_ = conn.SetDeadline(time.Now().Add(leaseStreamIdle))
		b, err := rw.ReadByte()
		if err != nil {
			return
		}
		if b != leaseAsk {
			s.warn("closed a lease stream: not a renewal", "peer", peer, "byte", b)
			return
		}
		answer := leaseRefused
		if s.grant(peer) {
			answer = leaseGranted
		}
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte{answer}); err != nil {
			return
		}
	}
}

// leaseConn is a follower's open stream to one leader.
type leaseConn struct {
	key  string // "id@addr"
	conn net.Conn
	br   *bufio.Reader
}

// renewStream sends one renewal over the stream to the leader id at addr,
// opening it first if needed. A stream that failed, or whose renewal was
// cut short (its deadline is no longer known), is closed; the next renewal
// opens a new one.
func (c *Client) renewStream(ctx context.Context, id, addr string) error {
	key := id + "@" + addr
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	if c.lease != nil && c.lease.key != key {
		c.closeLeaseLocked()
	}
	if c.lease == nil {
		lc, err := c.openLeaseStream(ctx, id, addr)
		if err != nil {
			return err
		}
		c.lease = lc
	}
	stop := bindDeadline(ctx, c.lease.conn)
	answer, err := c.lease.ask()
	if !stop() || err != nil || answer != leaseGranted && answer != leaseRefused {
		c.closeLeaseLocked()
	}
	switch {
	case err != nil:
		return fmt.Errorf("lease stream to %s: %w", id, err)
	case answer == leaseGranted:
		return nil
	case answer == leaseRefused:
		return ErrNotLeader
	}
	return fmt.Errorf("lease stream to %s: unexpected answer %q", id, answer)
}

// bindDeadline gives conn ctx's deadline (none if it has none) and ends
// what conn is doing at once if ctx is cancelled (the leader changed). The
// returned stop reports false if the cancellation came: conn's deadline is
// then in the past, or about to be.
func bindDeadline(ctx context.Context, conn net.Conn) (stop func() bool) {
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// ask sends one renewal and reads its answer.
func (l *leaseConn) ask() (byte, error) {
	if _, err := l.conn.Write([]byte{leaseAsk}); err != nil {
		return 0, err
	}
	return l.br.ReadByte()
}

// openLeaseStream dials the leader's RPC channel and upgrades it.
// errNoLeaseStream means the leader does not serve it.
func (c *Client) openLeaseStream(ctx context.Context, id, addr string) (*leaseConn, error) {
	conn, err := c.dial(ctx, addr, id)
	if err != nil {
		return nil, err
	}
	l := &leaseConn{key: id + "@" + addr, conn: conn, br: bufio.NewReaderSize(conn, 512)}
	stop := bindDeadline(ctx, conn)
	err = l.upgrade(id)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return l, nil
}

// upgrade asks the leader id to turn the connection into a lease stream.
func (l *leaseConn) upgrade(id string) error {
	req := "POST " + LeaseStreamPath + " HTTP/1.1\r\nHost: " + id + "\r\nConnection: Upgrade\r\nUpgrade: " +
		leaseStreamProto + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := l.conn.Write([]byte(req)); err != nil {
		return err
	}
	resp, err := http.ReadResponse(l.br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return errNoLeaseStream
	}
	return fmt.Errorf("lease stream to %s: %w", id, decodeError(resp))
}

func (c *Client) closeLeaseLocked() {
	if c.lease != nil {
		_ = c.lease.conn.Close()
		c.lease = nil
	}
}

// renewLeader renews with the leader id at addr over the stream, or over
// HTTP with a leader that has none.
func (c *Client) renewLeader(ctx context.Context, id, addr string) error {
	key := id + "@" + addr
	c.leaseMu.Lock()
	httpOnly := c.leaseHTTP == key && time.Now().Before(c.leaseHTTPUntil)
	c.leaseMu.Unlock()
	if !httpOnly {
		err := c.renewStream(ctx, id, addr)
		if !errors.Is(err, errNoLeaseStream) {
			return err
		}
		c.leaseMu.Lock()
		c.leaseHTTP, c.leaseHTTPUntil = key, time.Now().Add(leaseStreamRetry)
		c.leaseMu.Unlock()
	}
	return c.post(ctx, id, addr, LeasePath, []byte("{}"))
}
