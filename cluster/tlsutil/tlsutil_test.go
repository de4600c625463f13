package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type pki struct {
	caCert, caKey string
	dir           string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	c, k, err := CreateCA(dir)
	if err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	return pki{caCert: c, caKey: k, dir: dir}
}

func (p pki) load(t *testing.T, node string) *tls.Config {
	t.Helper()
	c, k, err := CreateCert(p.caCert, p.caKey, p.dir, node, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatalf("CreateCert %s: %v", node, err)
	}
	conf, err := Load(p.caCert, c, k)
	if err != nil {
		t.Fatalf("Load %s: %v", node, err)
	}
	return conf
}

// handshake runs a server with srv and a client with cli dialing it as
// serverName, and returns the client's and the server's handshake errors.
func handshake(t *testing.T, srv, cli *tls.Config, serverName string) (clientErr, serverErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvDone <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			srvDone <- err
			return
		}
		// TLS 1.3 reports a rejected client certificate on the first read.
		buf := make([]byte, 1)
		_, err = c.Read(buf)
		srvDone <- err
	}()
	cc := cli.Clone()
	cc.ServerName = serverName
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), cc)
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write([]byte{1})
		if err == nil {
			// Wait for the server's verdict on our certificate.
			buf := make([]byte, 1)
			_, rerr := conn.Read(buf)
			if rerr != nil && !strings.Contains(rerr.Error(), "EOF") {
				err = rerr
			}
		}
		conn.Close()
	}
	return err, <-srvDone
}

func TestMutualTLSHandshake(t *testing.T) {
	p := newPKI(t)
	a, b := p.load(t, "lb1"), p.load(t, "lb2")
	cerr, serr := handshake(t, a, b, "lb1")
	if cerr != nil || serr != nil {
		t.Fatalf("handshake between two nodes of one CA failed: client %v, server %v", cerr, serr)
	}
}

func TestWrongServerNameRejected(t *testing.T) {
	p := newPKI(t)
	a, b := p.load(t, "lb1"), p.load(t, "lb2")
	// lb2 dials lb1's port expecting "witness": lb1's certificate must not pass.
	cerr, _ := handshake(t, a, b, "witness")
	if cerr == nil {
		t.Fatal("a certificate for lb1 was accepted for server name witness")
	}
}

func TestOtherCARejected(t *testing.T) {
	p1, p2 := newPKI(t), newPKI(t)
	good, rogue := p1.load(t, "lb1"), p2.load(t, "lb2")

	// Rogue client to a good server: the server must refuse the client cert.
	_, serr := handshake(t, good, rogue, "lb1")
	if serr == nil {
		t.Fatal("server accepted a client certificate from another CA")
	}
	// Good client to a rogue server: the client must refuse the server cert.
	cerr, _ := handshake(t, rogue, good, "lb2")
	if cerr == nil {
		t.Fatal("client accepted a server certificate from another CA")
	}
}

func TestClientWithoutCertRejected(t *testing.T) {
	p := newPKI(t)
	srv := p.load(t, "lb1")
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(p.caCert)
	pool.AppendCertsFromPEM(caPEM)
	anon := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	_, serr := handshake(t, srv, anon, "lb1")
	if serr == nil {
		t.Fatal("server accepted a client without a certificate")
	}
}

func TestCertificateContents(t *testing.T) {
	p := newPKI(t)
	c, k, err := CreateCert(p.caCert, p.caKey, p.dir, "lb1", []net.IP{net.ParseIP("198.18.0.1")}, []string{"lb1.example"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(c) != "lb1.pem" || filepath.Base(k) != "lb1-key.pem" {
		t.Fatalf("file names %s %s", c, k)
	}
	for _, f := range []string{p.caKey, k} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 0600", f, fi.Mode().Perm())
		}
	}
	raw, _ := os.ReadFile(c)
	blk, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "lb1" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	if strings.Join(cert.DNSNames, ",") != "lb1,lb1.example" {
		t.Errorf("DNS SANs %v", cert.DNSNames)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("198.18.0.1")) {
		t.Errorf("IP SANs %v", cert.IPAddresses)
	}
	var srvAuth, cliAuth bool
	for _, u := range cert.ExtKeyUsage {
		srvAuth = srvAuth || u == x509.ExtKeyUsageServerAuth
		cliAuth = cliAuth || u == x509.ExtKeyUsageClientAuth
	}
	if !srvAuth || !cliAuth {
		t.Errorf("ExtKeyUsage %v, want server and client auth", cert.ExtKeyUsage)
	}
	conf, err := Load(p.caCert, c, k)
	if err != nil {
		t.Fatal(err)
	}
	if conf.MinVersion != tls.VersionTLS13 || conf.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("config not mutual TLS 1.3: min %x auth %v", conf.MinVersion, conf.ClientAuth)
	}
}

func TestRefuseOverwrite(t *testing.T) {
	p := newPKI(t)
	before, _ := os.ReadFile(p.caKey)
	if _, _, err := CreateCA(p.dir); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second CreateCA: %v", err)
	}
	after, _ := os.ReadFile(p.caKey)
	if string(before) != string(after) {
		t.Fatal("CA key changed")
	}
	if _, _, err := CreateCert(p.caCert, p.caKey, p.dir, "lb1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CreateCert(p.caCert, p.caKey, p.dir, "lb1", nil, nil); err == nil {
		t.Fatal("second CreateCert for lb1 overwrote the first")
	}
	if _, _, err := CreateCert(p.caCert, p.caKey, p.dir, "../evil", nil, nil); err == nil {
		t.Fatal("node name with a path separator accepted")
	}
}

func TestBadKeyPermsRefused(t *testing.T) {
	p := newPKI(t)
	c, k, err := CreateCert(p.caCert, p.caKey, p.dir, "lb1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(k, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p.caCert, c, k)
		if err == nil {
			t.Fatalf("Load accepted key with mode %o", mode)
		}
		if !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), "group or others") {
			t.Errorf("unclear error for mode %o: %v", mode, err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("error leaks key material: %v", err)
		}
	}
	if err := os.Chmod(k, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p.caCert, c, k); err != nil {
		t.Fatalf("0400 key refused: %v", err)
	}
}
