package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (p pki) operator(t *testing.T, name string) *tls.Config {
	t.Helper()
	c, k, err := CreateOperatorCert(p.caCert, p.caKey, p.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := Load(p.caCert, c, k)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestIdentitiesInCertificates(t *testing.T) {
	p := newPKI(t)
	n := p.load(t, "lb1")
	id, err := IdentityOf(leaf(t, n))
	if err != nil || id != (Identity{RoleNode, "lb1"}) {
		t.Fatalf("node identity %+v, %v", id, err)
	}
	op := p.operator(t, "alice")
	id, err = IdentityOf(leaf(t, op))
	if err != nil || id != (Identity{RoleOperator, "alice"}) {
		t.Fatalf("operator identity %+v, %v", id, err)
	}
	for _, u := range leaf(t, op).ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth {
			t.Error("operator certificate valid for servers")
		}
	}
	if _, _, err := CreateCert(p.caCert, p.caKey, p.dir, "a/b", nil, nil); err == nil {
		t.Error("node name with a slash accepted")
	}
}

// TestRoleChecksOnHandshake: the cluster port takes node certificates of
// members only; the TCP API takes operator certificates only; a dialer
// takes only the certificate of the node it meant to reach.
func TestRoleChecksOnHandshake(t *testing.T) {
	p := newPKI(t)
	lb1, lb2, stranger, alice := p.load(t, "lb1"), p.load(t, "lb2"), p.load(t, "retired"), p.operator(t, "alice")
	member := func(n string) bool { return n == "lb1" || n == "lb2" }
	cluster := AcceptNodes(lb1, member)
	if c, s := handshake(t, cluster, lb2, "lb1"); c != nil || s != nil {
		t.Fatalf("member refused: %v %v", c, s)
	}
	if _, s := handshake(t, cluster, stranger, "lb1"); s == nil || !strings.Contains(s.Error(), "not a configured node") {
		t.Errorf("non-member node accepted: %v", s)
	}
	if _, s := handshake(t, cluster, alice, "lb1"); s == nil || !strings.Contains(s.Error(), "only node certificates") {
		t.Errorf("operator accepted on the cluster port: %v", s)
	}
	apiConf := AcceptOperators(lb1)
	if c, s := handshake(t, apiConf, alice, "lb1"); c != nil || s != nil {
		t.Fatalf("operator refused by the API: %v %v", c, s)
	}
	if _, s := handshake(t, apiConf, lb2, "lb1"); s == nil || !strings.Contains(s.Error(), "only operator certificates") {
		t.Errorf("node certificate accepted as operator: %v", s)
	}
	// lb2 dials "lb1" but reaches a server presenting lb2's certificate.
	if c, _ := handshake(t, p.load(t, "lb3"), DialNode(lb2, "lb1"), "lb1"); c == nil {
		t.Error("dialer accepted another node's certificate")
	}
}

func TestCheckNodeCert(t *testing.T) {
	p := newPKI(t)
	p.load(t, "lb1")
	cert, key := filepath.Join(p.dir, "lb1.pem"), filepath.Join(p.dir, "lb1-key.pem")
	now := time.Now()
	if w, err := CheckNodeCert(p.caCert, cert, key, "lb1", now); err != nil || len(w) != 0 {
		t.Fatalf("good certificate: %v %v", w, err)
	}
	if _, err := CheckNodeCert(p.caCert, cert, key, "lb2", now); err == nil || !strings.Contains(err.Error(), "is for node lb1, but this is node lb2") {
		t.Errorf("other node: %v", err)
	}
	notAfter := leafFile(t, cert).NotAfter
	if w, err := CheckNodeCert(p.caCert, cert, key, "lb1", notAfter.Add(-10*24*time.Hour)); err != nil || len(w) != 1 || !strings.Contains(w[0], "expires on") {
		t.Errorf("10 days before expiry: %v %v", w, err)
	}
	if _, err := CheckNodeCert(p.caCert, cert, key, "lb1", notAfter.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	other := newPKI(t)
	if _, err := CheckNodeCert(other.caCert, cert, key, "lb1", now); err == nil || !strings.Contains(err.Error(), "does not chain") {
		t.Errorf("other CA: %v", err)
	}
}

func leaf(t *testing.T, c *tls.Config) *x509.Certificate {
	t.Helper()
	x, err := x509.ParseCertificate(c.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func leafFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	x, err := readCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
