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
// opening it first if needed. Any failure closes the stream; the next
// renewal opens a new one.
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
	conn := c.lease.conn
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Time{})
	}
	// A cancelled renewal (the leader changed) ends at once, not at its
	// deadline. If the cancellation came at all, the connection's deadline
	// is no longer known: the stream is not used again.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	answer, err := c.ask(conn)
	if !stop() {
		defer c.closeLeaseLocked()
	}
	switch {
	case err != nil:
		c.closeLeaseLocked()
		return fmt.Errorf("lease stream to %s: %w", id, err)
	case answer == leaseGranted:
		return nil
	case answer == leaseRefused:
		return ErrNotLeader
	}
	c.closeLeaseLocked()
	return fmt.Errorf("lease stream to %s: unexpected answer %q", id, answer)
}

// ask sends one renewal and reads its answer.
func (c *Client) ask(conn net.Conn) (byte, error) {
	if _, err := conn.Write([]byte{leaseAsk}); err != nil {
		return 0, err
	}
	return c.lease.br.ReadByte()
}

// openLeaseStream dials the leader's RPC channel and upgrades it.
// errNoLeaseStream means the leader does not serve it.
func (c *Client) openLeaseStream(ctx context.Context, id, addr string) (*leaseConn, error) {
	conn, err := c.dial(ctx, addr, id)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	req := "POST " + LeaseStreamPath + " HTTP/1.1\r\nHost: " + id + "\r\nConnection: Upgrade\r\nUpgrade: " +
		leaseStreamProto + "\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReaderSize(conn, 512)
	if _, err := conn.Write([]byte(req)); err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		stop()
		err := decodeError(resp)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return nil, errNoLeaseStream
		}
		return nil, fmt.Errorf("lease stream to %s: %w", id, err)
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	return &leaseConn{key: id + "@" + addr, conn: conn, br: br}, nil
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
