package consensus

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestClusterPortRejectsJunk throws garbage, plain TCP, a silent client, a
// certificate from another CA and an unknown protocol byte at a live node's
// cluster port; the cluster must keep replicating, and a real RPC
// connection must still arrive on RPCListener.
func TestClusterPortRejectsJunk(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leader := leaderOf(t, nodes, 10*time.Second)
	target := others(nodes, leader)[0]
	addr := target.cfg.BindAddr

	// A silent client holds a connection open without handshaking; the
	// accept loop must keep serving everyone else meanwhile.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	junk := map[string][]byte{
		"garbage":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"plain raft byte":  append([]byte{protoRaft}, make([]byte, 64)...),
		"plain rpc byte":   {protoRPC, 'h', 'i'},
		"random bytes":     {0x16, 0x03, 0x01, 0xff, 0xff, 0x00, 0x13, 0x37},
		"connect and quit": nil,
	}
	for name, payload := range junk {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		if payload != nil {
			_, _ = c.Write(payload)
			if !closedByPeer(c, 5*time.Second) {
				t.Errorf("%s: connection not closed by the cluster port", name)
			}
		}
		c.Close()
	}

	// A client certificate from another CA, from a client that itself
	// trusts the cluster CA: the server must refuse it.
	rogue := newTestPKI(t).config(t, leader.id)
	rogue.RootCAs = target.cfg.TLS.RootCAs
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := DialRPC(ctx, addr, target.id, rogue); err == nil {
		if !closedByPeer(c, 5*time.Second) {
			t.Error("client with another CA's certificate was served")
		}
		c.Close()
	}

	// Right CA, unknown protocol byte.
	good := target.cfg.TLS
	conf := good.Clone()
	conf.ServerName = target.id
	tc, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	_, _ = tc.Write([]byte{0x7f})
	if !closedByPeer(tc, 5*time.Second) {
		t.Error("unknown protocol byte: connection not closed")
	}
	tc.Close()

	// Wrong node name: the dialer refuses the peer's certificate.
	if c, err := DialRPC(ctx, addr, "not-"+target.id, leader.cfg.TLS); err == nil {
		c.Close()
		t.Error("DialRPC accepted a certificate for another node name")
	}

	// The cluster still works, through the node we attacked.
	if _, err := leader.node.Apply([]byte("still-alive"), 5*time.Second); err != nil {
		t.Fatalf("Apply after junk: %v", err)
	}
	waitApplied(t, nodes, "still-alive")

	// A real RPC connection arrives on RPCListener, bytes intact both ways.
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := target.node.RPCListener().Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := DialRPC(ctx, addr, target.id, leader.cfg.TLS)
	if err != nil {
		t.Fatalf("DialRPC: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	var srv net.Conn
	select {
	case srv = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("RPC connection never reached RPCListener")
	}
	if srv == nil {
		t.Fatal("RPCListener.Accept failed")
	}
	defer srv.Close()
	buf := make([]byte, 4)
	_ = srv.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if _, err := srv.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	if tcs, ok := srv.(*tls.Conn); !ok || len(tcs.ConnectionState().PeerCertificates) == 0 {
		t.Fatal("RPC connection is not a verified TLS connection")
	}

	// The silent client is dropped once the handshake deadline passes.
	if !closedByPeer(silent, 5*time.Second) {
		t.Error("silent connection held open past the handshake deadline")
	}
}

// closedByPeer reports whether the peer closes c within d (reads drain
// anything it sent first, such as a TLS alert).
func closedByPeer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
}

// TestPlainClusterRPC covers dev mode: no TLS on the cluster port.
func TestPlainClusterRPC(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	r := start(t, Config{NodeID: "dev", BindAddr: addr, InMem: true, Timing: fastTiming()})
	leaderOf(t, []*running{r}, 10*time.Second)
	if _, err := r.node.Apply([]byte("x"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := r.node.RPCListener().Accept()
		if err == nil {
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialRPC(ctx, addr, "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "ok" {
		t.Fatalf("read %q %v", b, err)
	}
}

// A connection closed before it sent a byte (a leader's reach probe, a port
// scan) is no TLS failure of a peer: status shows no error for anyone. One
// that sent a little garbage first still is.
func TestSilentConnectionIsNoPeerError(t *testing.T) {
	nodes, _ := tlsCluster(t, 3)
	leaderOf(t, nodes, 10*time.Second)
	target := nodes[0]
	for range 3 {
		c, err := net.Dial("tcp", target.cfg.BindAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	time.Sleep(200 * time.Millisecond) // the mux handles them in the background
	// (A starved start-up may record a real handshake timeout: only the
	// silent connections' EOF must not show.)
	for who, e := range target.node.PeerErrors() {
		if strings.Contains(e.Error, "EOF") {
			t.Fatalf("peer error for %q after silent connections: %v", who, e)
		}
	}
	c, err := net.Dial("tcp", target.cfg.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0xff})
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !anyError(target.node.PeerErrors(), "TLS from") {
		if time.Now().After(deadline) {
			t.Fatal("a broken handshake recorded no peer error")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func anyError(errs map[string]PeerError, sub string) bool {
	for _, e := range errs {
		if strings.Contains(e.Error, sub) {
			return true
		}
	}
	return false
}
