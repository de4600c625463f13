package consensus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// Protocol bytes sent by the dialer right after the TLS handshake.
const (
	protoRaft byte = 0x01
	protoRPC  byte = 0x02
)

// silentConn notes whether the peer sent anything at all.
type silentConn struct {
	net.Conn
	spoke bool
}

func (c *silentConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.spoke = c.spoke || n > 0
	return n, err
}

// advertiseAddr is the configured host:port, kept verbatim so that raft's
// own address matches the peer addresses in its configuration.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("cluster listener %s: %w", l.addr, net.ErrClosed)
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// deliver hands c to whoever calls Accept, or closes it if nobody does
// within timeout or the listener is closed.
func (l *chanListener) deliver(c net.Conn, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l.ch <- c:
		return true
	case <-l.done:
	case <-t.C:
	}
	_ = c.Close()
	return false
}

// mux accepts on the cluster port and routes each connection by its first
// byte after the TLS handshake.
type mux struct {
	ln        net.Listener
	tls       *tls.Config // server side: accepts node certificates of configured nodes only
	raft, rpc *chanListener
	timeout   time.Duration
	log       hclog.Logger
	names     *nameBook
	errs      *peerErrors
	limit     *connLimiter // bounds connections in handshake
}

// serve runs the accept loop until the listener is closed. The handshake
// and protocol byte are read on a goroutine per connection, under a
// deadline, so a slow or hostile client never stalls the loop.
func (m *mux) serve(wg *sync.WaitGroup) {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("cluster port accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		release, ok := m.limit.acquire(c.RemoteAddr().String())
		if !ok {
			// A flood of handshakes: shed new ones rather than grow without
			// bound. Established connections are not affected.
			m.errs.limited(m.log, "cluster port busy: dropped a connection", "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.route(c, release)
		}()
	}
}

func (m *mux) route(c net.Conn, release func()) {
	remote := c.RemoteAddr().String()
	defer release()
	_ = c.SetDeadline(time.Now().Add(m.timeout))
	conn := c
	peer := "" // the node the certificate names ("" without TLS: dev mode)
	if m.tls != nil {
		sc := &silentConn{Conn: c}
		tc := tls.Server(sc, m.tls)
		if err := tc.Handshake(); err != nil {
			if !sc.spoke {
				// Closed without a byte: a leader's reach probe
				// (coordinator/reach.go) or a port scan, not a TLS
				// failure of a peer worth a warning.
				m.log.Debug("cluster connection closed before a handshake", "remote", remote, "error", err)
				_ = c.Close()
				return
			}
			who := m.names.byHost(remote)
			m.errs.record(who, explainTLS(who, fmt.Errorf("TLS from %s: %w", remote, err)))
			m.errs.limited(m.log, "rejected cluster connection: TLS handshake failed", "remote", remote, "error", err)
			_ = c.Close()
			return
		}
		id, err := tlsutil.PeerIdentity(tc.ConnectionState())
		if err != nil { // VerifyConnection already refused it; belt and braces
			_ = c.Close()
			return
		}
		peer = id.Name
		m.errs.clear(peer)
		conn = tc
	}
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		m.errs.limited(m.log, "rejected cluster connection: no protocol byte", "remote", remote, "error", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	release()
	var l *chanListener
	switch b[0] {
	case protoRaft:
		l = m.raft
		if peer != "" {
			addr, _ := m.names.addrOf(peer)
			conn = newRaftGuard(conn, peer, addr, func(err error) {
				m.errs.record(peer, err)
				m.errs.limited(m.log, "closed raft connection", "peer", peer, "error", err)
			})
		}
	case protoRPC:
		l = m.rpc
	default:
		m.errs.limited(m.log, "rejected cluster connection: unknown protocol byte", "remote", remote, "byte", b[0])
		_ = conn.Close()
		return
	}
	if !l.deliver(conn, m.timeout) {
		m.log.Debug("dropped cluster connection: nobody accepted it", "remote", remote, "protocol", b[0])
	}
}

// streamLayer is raft's view of the cluster port.
type streamLayer struct {
	*chanListener
	tls   *tls.Config
	names *nameBook
	errs  *peerErrors
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	dialBy := func(deadline time.Time) (net.Conn, error) {
		if deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		return dialRecord(ctx, string(address), s.names.serverName(string(address)), s.tls, protoRaft, s.errs)
	}
	c, err := dialBy(time.Time{})
	if err != nil {
		return nil, err
	}
	return newFreshConn(c, dialBy), nil
}

// dialRecord dials like dial and keeps the peer's last TLS error.
func dialRecord(ctx context.Context, addr, serverName string, tlsConf *tls.Config, proto byte, errs *peerErrors) (net.Conn, error) {
	c, err := dial(ctx, addr, serverName, tlsConf, proto)
	var he *handshakeError
	switch {
	case errors.As(err, &he):
		errs.record(serverName, explainTLS(serverName, he.err))
	case err == nil && tlsConf != nil:
		errs.clear(serverName)
	}
	return c, err
}

// explainTLS words the usual certificate mistakes for the status screen.
func explainTLS(peer string, err error) error {
	var hn x509.HostnameError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &hn) && hn.Certificate != nil:
		name := hn.Certificate.Subject.CommonName
		if id, e := tlsutil.IdentityOf(hn.Certificate); e == nil {
			name = id.Name
		}
		return fmt.Errorf("%s presents a certificate for %s", peer, name)
	case errors.As(err, &ua):
		return fmt.Errorf("%s presents a certificate from another CA", peer)
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return fmt.Errorf("%s presents an expired certificate", peer)
	case strings.Contains(err.Error(), "remote error: tls:"):
		return fmt.Errorf("%s refuses this node's certificate (%w): check cluster.tls on both", peer, err)
	}
	return err
}

// handshakeError is a failed TLS handshake while dialing (as opposed to a
// peer that is down).
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// DialRPC opens an RPC connection to the cluster port at addr (host:port),
// verifying that the peer holds a certificate for serverName (its node name)
// signed by the cluster CA. tlsConf nil means plain TCP (dev mode only).
func DialRPC(ctx context.Context, addr, serverName string, tlsConf *tls.Config) (net.Conn, error) {
	return dial(ctx, addr, serverName, tlsConf, protoRPC)
}

func dial(ctx context.Context, addr, serverName string, tlsConf *tls.Config, proto byte) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &unreachableError{fmt.Errorf("dial cluster port %s: %w", addr, err)}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	conn := c
	if tlsConf != nil {
		tc := tls.Client(c, tlsutil.DialNode(tlsConf, serverName))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, &handshakeError{fmt.Errorf("TLS handshake with %s (%s): %w", serverName, addr, err)}
		}
		conn = tc
	}
	if _, err := conn.Write([]byte{proto}); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cluster port %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return conn, nil
}

// nameBook maps a peer's cluster address to its node name, which is the
// TLS server name its certificate must carry. It starts from the configured
// peers and follows raft configuration changes.
type nameBook struct {
	mu    sync.RWMutex
	names map[string]string
}

func newNameBook(peers []Peer) *nameBook {
	b := &nameBook{names: make(map[string]string, len(peers))}
	for _, p := range peers {
		b.names[p.Address] = p.ID
	}
	return b
}

// addrOf returns the cluster address of node id.
func (b *nameBook) addrOf(id string) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for a, n := range b.names {
		if n == id {
			return a, true
		}
	}
	return "", false
}

// has reports whether id is a member (configured or in raft's configuration).
func (b *nameBook) has(id string) bool {
	_, ok := b.addrOf(id)
	return ok
}

// byHost names the node whose cluster address has the host of remote
// (host:port), or returns remote itself.
func (b *nameBook) byHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for a, n := range b.names {
		if h, _, err := net.SplitHostPort(a); err == nil && h == host {
			return n
		}
	}
	return remote
}

func (b *nameBook) set(addr, id string) {
	b.mu.Lock()
	b.names[addr] = id
	b.mu.Unlock()
}

// serverName falls back to the host part of an address no peer claims, so
// a certificate with that IP or DNS SAN still verifies.
func (b *nameBook) serverName(addr string) string {
	b.mu.RLock()
	id, ok := b.names[addr]
	b.mu.RUnlock()
	if ok {
		return id
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
