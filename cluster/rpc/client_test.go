package rpc

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// followerRaft is a follower whose leader is "lb1" at addr.
type followerRaft struct{ addr string }

func (r *followerRaft) IsLeader() bool                            { return false }
func (r *followerRaft) Leader() (string, string)                  { return "lb1", r.addr }
func (r *followerRaft) ReadIndex(context.Context) (uint64, error) { return 0, ErrNotLeader }
func (r *followerRaft) Apply([]byte, time.Duration) (any, error)  { return nil, ErrNotLeader }

// tlsPair serves a leader's RPC server on a mutual-TLS listener that
// accepts node certificates of lb1 and lb2, and returns lb2's client config.
func tlsPair(t testing.TB) (addr string, client *tls.Config) {
	t.Helper()
	s, _ := newTestServer()
	return tlsServe(t, s.Serve)
}

// tlsServe is tlsPair with the server's Serve given.
func tlsServe(t testing.TB, serve func(context.Context, net.Listener) error) (addr string, client *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, err := tlsutil.CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]*tls.Config{}
	for _, n := range []string{"lb1", "lb2"} {
		c, k, err := tlsutil.CreateCert(ca, caKey, dir, n, []net.IP{net.ParseIP("127.0.0.1")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if conf[n], err = tlsutil.Load(ca, c, k); err != nil {
			t.Fatal(err)
		}
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", tlsutil.AcceptNodes(conf["lb1"], func(n string) bool { return n == "lb1" || n == "lb2" }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	conf["lb2"].ClientSessionCache = tls.NewLRUClientSessionCache(8)
	return l.Addr().String(), conf["lb2"]
}

func dialer(conf *tls.Config, dials *atomic.Int64, fresh bool) DialFunc {
	return func(ctx context.Context, addr, node string) (net.Conn, error) {
		dials.Add(1)
		c := tlsutil.DialNode(conf, node)
		if fresh {
			c.ClientSessionCache = nil
		}
		d := tls.Dialer{Config: c}
		return d.DialContext(ctx, "tcp", addr)
	}
}

// TestClientReusesConnections: a follower's sync before every start and
// every status fan-out use one kept-alive connection per peer, not a TLS
// handshake each.
func TestClientReusesConnections(t *testing.T) {
	addr, conf := tlsPair(t)
	var dials atomic.Int64
	c := NewClient(&followerRaft{addr: addr}, dialer(conf, &dials, false))
	for range 50 {
		if _, err := c.ReadIndex(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("50 calls dialed %d times, want 1", n)
	}
}

// BenchmarkForwardedReadIndex measures one forwarded call over mutual TLS:
// kept-alive (what the client does) against a new connection per call
// (what the old forwarding path did).
func BenchmarkForwardedReadIndex(b *testing.B) {
	addr, conf := tlsPair(b)
	for _, mode := range []string{"keepalive", "new-connection-each-call"} {
		b.Run(mode, func(b *testing.B) {
			var dials atomic.Int64
			c := NewClient(&followerRaft{addr: addr}, dialer(conf, &dials, true))
			for b.Loop() {
				if _, err := c.ReadIndex(context.Background()); err != nil {
					b.Fatal(err)
				}
				if mode != "keepalive" {
					c.CloseIdle()
				}
			}
			b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
		})
	}
}
