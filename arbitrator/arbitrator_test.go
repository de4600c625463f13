package arbitrator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

func TestDecideIsStickyAndExclusive(t *testing.T) {
	c := &cluster{}
	ask := func(node, peer, st string) Reply {
		r, _ := decide(c, Request{Cluster: "a", Node: node, Peer: peer, State: st})
		return r
	}
	if r := ask("n1", "n2", StatePair); r.Granted || c.Owner != "" {
		t.Fatalf("a working pair took the vote: %+v", r)
	}
	if r := ask("n1", "n2", StateLost); !r.Granted {
		t.Fatalf("first to ask was refused: %+v", r)
	}
	if r := ask("n2", "n1", StateLost); r.Granted || r.Owner != "n1" {
		t.Fatalf("second to ask: %+v, want refused, owner n1", r)
	}
	if r := ask("n2", "n1", StateAlone); r.Granted || !strings.Contains(r.Reason, "CONFLICT") {
		t.Fatalf("alone while the peer owns the vote: %+v", r)
	}
	if r := ask("n1", "n2", StateLost); !r.Granted {
		t.Fatalf("owner asking again: %+v", r)
	}
	if _, changed := decide(c, Request{Node: "n2", Peer: "n1", State: StatePair}); !changed || c.Owner != "" {
		t.Fatalf("the pair working again did not release the vote (owner %q)", c.Owner)
	}
	if r := ask("n2", "n1", StateAlone); !r.Granted {
		t.Fatalf("a node alone after a fence takes a free vote: %+v", r)
	}
}

// tlsFiles makes one CA per cluster with node certificates, and the
// arbitrator's own CA and server certificate.
type tlsFiles struct{ dir string }

func (f tlsFiles) ca(t *testing.T, name string) (cert, key string) {
	d := filepath.Join(f.dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	c, k, err := tlsutil.CreateCA(d)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func (f tlsFiles) cert(t *testing.T, caName, node string, ips ...net.IP) tls.Certificate {
	d := filepath.Join(f.dir, caName)
	c, k, err := tlsutil.CreateCert(filepath.Join(d, "ca.pem"), filepath.Join(d, "ca-key.pem"), d, node, ips, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func pool(t *testing.T, files ...string) *x509.CertPool {
	p := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p.AppendCertsFromPEM(b)
	}
	return p
}

// Two clusters (two CAs) share one arbitrator over mutual TLS: the vote is
// per cluster, bound to the cluster's CA, given only to the node the
// certificate names, and survives an arbitrator restart.
func TestServerTwoClustersOverMutualTLS(t *testing.T) {
	f := tlsFiles{dir: t.TempDir()}
	caA, _ := f.ca(t, "a")
	caB, _ := f.ca(t, "b")
	caArb, _ := f.ca(t, "arb")
	srvCert := f.cert(t, "arb", "arbitrator", net.ParseIP("127.0.0.1"))
	state := filepath.Join(t.TempDir(), "state.json")

	start := func() (string, func()) {
		s, err := New(Config{StatePath: state, TLS: &tls.Config{MinVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{srvCert}, ClientCAs: pool(t, caA, caB), ClientAuth: tls.RequireAndVerifyClientCert}})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, l) }()
		return l.Addr().String(), func() { cancel(); <-done }
	}
	addr, stop := start()
	certs := map[string]tls.Certificate{}
	client := func(ca, node string) *Client {
		c, ok := certs[ca+"/"+node]
		if !ok {
			c = f.cert(t, ca, node)
			certs[ca+"/"+node] = c
		}
		return NewClient(addr, "arbitrator", &tls.Config{MinVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{c}, RootCAs: pool(t, caArb)})
	}
	ctx := context.Background()
	ask := func(c *Client, cluster, node, peer, st string) Reply {
		t.Helper()
		r, err := c.Ask(ctx, Request{Cluster: cluster, Node: node, Peer: peer, State: st})
		if err != nil {
			t.Fatalf("%s/%s asks: %v", cluster, node, err)
		}
		return r
	}
	a1, a2, b1 := client("a", "n1"), client("a", "n2"), client("b", "n1")
	if r := ask(a1, "a", "n1", "n2", StateLost); !r.Granted {
		t.Fatalf("a/n1: %+v", r)
	}
	if r := ask(a2, "a", "n2", "n1", StateLost); r.Granted {
		t.Fatalf("a/n2 got the vote a/n1 holds: %+v", r)
	}
	if r := ask(b1, "b", "n1", "n2", StateLost); !r.Granted {
		t.Fatalf("cluster b's vote is not independent of a's: %+v", r)
	}
	if _, err := b1.Ask(ctx, Request{Cluster: "a", Node: "n1", Peer: "n2", State: StatePair}); err == nil {
		t.Fatal("a node of cluster b (another CA) spoke for cluster a")
	}
	if _, err := a2.Ask(ctx, Request{Cluster: "a", Node: "n1", Peer: "n2", State: StatePair}); err == nil {
		t.Fatal("n2's certificate spoke for n1")
	}
	if _, err := NewClient(addr, "arbitrator", &tls.Config{RootCAs: pool(t, caArb)}).Ask(ctx,
		Request{Cluster: "a", Node: "n2", Peer: "n1", State: StateLost}); err == nil {
		t.Fatal("a client without a certificate was answered")
	}

	stop()
	addr, stop = start()
	defer stop()
	a1, a2 = client("a", "n1"), client("a", "n2")
	if r := ask(a2, "a", "n2", "n1", StateLost); r.Granted || r.Owner != "n1" {
		t.Fatalf("after a restart a/n2 got the vote a/n1 held: %+v", r)
	}
	ask(a1, "a", "n1", "n2", StatePair)
	if r := ask(a2, "a", "n2", "n1", StateLost); !r.Granted {
		t.Fatalf("released vote not granted: %+v", r)
	}
}
