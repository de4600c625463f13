package tlsutil

import (
	"crypto/tls"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// replace puts the certificate and key made for node (in a fresh dir) at
// certPath/keyPath, the way an operator renews files in place.
func (p pki) replace(t *testing.T, node, certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	c, k, err := CreateCert(p.caCert, p.caKey, dir, node, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{c: certPath, k: keyPath} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := dst + ".new"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			t.Fatal(err)
		}
	}
}

func echoServer(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, conf *tls.Config) (*tls.Conn, *big.Int) {
	t.Helper()
	cc := conf.Clone()
	cc.ServerName = "lb1"
	c, err := tls.Dial("tcp", addr, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	echo(t, c)
	return c, c.ConnectionState().PeerCertificates[0].SerialNumber
}

func echo(t *testing.T, c *tls.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

func TestReloadRenewedCertificateKeepsSessions(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	certPath, keyPath, err := CreateCert(p.caCert, p.caKey, dir, "lb1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, r, err := LoadReloadable(p.caCert, certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, srv)
	client := p.load(t, "lb2")
	old, oldSerial := dial(t, addr, client)
	if changed, err := r.Reload(time.Now()); err != nil || changed {
		t.Fatalf("reload of unchanged files: changed %v, %v", changed, err)
	}

	p.replace(t, "lb1", certPath, keyPath)
	if changed, err := r.Reload(time.Now()); err != nil || !changed {
		t.Fatalf("reload of a renewed certificate: changed %v, %v", changed, err)
	}
	echo(t, old) // the established session survives
	_, newSerial := dial(t, addr, client)
	if newSerial.Cmp(oldSerial) == 0 {
		t.Fatal("a new connection still got the old certificate")
	}
	// The client side presents the renewed certificate too.
	got := make(chan *big.Int, 1)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.load(t, "lb9"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil || len(tc.ConnectionState().PeerCertificates) == 0 {
			got <- nil
			return
		}
		got <- tc.ConnectionState().PeerCertificates[0].SerialNumber
	}()
	cc := srv.Clone()
	cc.ServerName = "lb9"
	if c, err := tls.Dial("tcp", ln.Addr().String(), cc); err == nil {
		_ = c.Handshake()
		defer c.Close()
	}
	if s := <-got; s == nil || s.Cmp(newSerial) != 0 {
		t.Fatalf("client certificate serial %v, want the renewed %v", s, newSerial)
	}
}

func TestReloadRefusesOtherIdentityOrCA(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	certPath, keyPath, err := CreateCert(p.caCert, p.caKey, dir, "lb1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, r, err := LoadReloadable(p.caCert, certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, srv)
	client := p.load(t, "lb2")
	_, serial := dial(t, addr, client)

	p.replace(t, "lb3", certPath, keyPath)
	if _, err := r.Reload(time.Now()); err == nil || !strings.Contains(err.Error(), "keeps its identity") {
		t.Fatalf("reload of another node's certificate: %v", err)
	}
	other := newPKI(t)
	other.replace(t, "lb1", certPath, keyPath)
	if _, err := r.Reload(time.Now()); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("reload of a certificate from another CA: %v", err)
	}
	if _, s := dial(t, addr, client); s.Cmp(serial) != 0 {
		t.Fatal("a refused reload changed the certificate in use")
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(time.Now()); err == nil || !strings.Contains(err.Error(), "must not be accessible") {
		t.Fatalf("reload of a world-readable key: %v", err)
	}
}
