package tlsutil

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloadable is a node's certificate that can be replaced on disk and
// re-read while the agent runs. The tls.Config that LoadReloadable returns
// (and every Clone of it) reads the current certificate at each handshake
// through GetCertificate/GetClientCertificate; established sessions keep
// the certificate they were made with and are never dropped.
type Reloadable struct {
	caFile, certFile, keyFile string
	caPEM                     []byte
	roots                     *x509.CertPool
	id                        Identity

	mu   sync.Mutex // one Reload at a time
	cert atomic.Pointer[tls.Certificate]
}

// LoadReloadable is Load with a reloadable certificate.
func LoadReloadable(caFile, certFile, keyFile string) (*tls.Config, *Reloadable, error) {
	conf, err := Load(caFile, certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file: %w", err)
	}
	cert := conf.Certificates[0]
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %s: %w", certFile, err)
	}
	cert.Leaf = leaf
	r := &Reloadable{caFile: caFile, certFile: certFile, keyFile: keyFile, caPEM: caPEM, roots: conf.RootCAs}
	// A certificate without an identity (older tooling) still loads; a
	// reload then only has to keep it without one.
	r.id, _ = IdentityOf(leaf)
	r.cert.Store(&cert)
	conf.Certificates = nil
	conf.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cert.Load(), nil }
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.cert.Load(), nil }
	return conf, r, nil
}

// NotAfter is when the current certificate expires.
func (r *Reloadable) NotAfter() time.Time { return r.cert.Load().Leaf.NotAfter }

// ErrCAChanged is returned by Reload when the CA file changed: trusting a new
// CA needs a restart (and a CA bundle with both CAs during the change).
var ErrCAChanged = errors.New("the CA file changed: a new CA is only read at start (use a bundle holding the old and the new CA, then restart one node at a time)")

// Reload re-reads the certificate and key. The new certificate must be
// valid now, signed by the CA the agent trusts and carry the same identity
// (role and node name): otherwise the running one stays and the error says
// why. changed is false when the file holds the certificate already in use.
func (r *Reloadable) Reload(now time.Time) (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := CheckKeyPerms(r.keyFile); err != nil {
		return false, err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return false, fmt.Errorf("load certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return false, fmt.Errorf("certificate %s: %w", r.certFile, err)
	}
	cert.Leaf = leaf
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: r.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false, fmt.Errorf("certificate %s: %w", r.certFile, err)
	}
	if id, _ := IdentityOf(leaf); id != r.id {
		return false, fmt.Errorf("certificate %s is for %q, the running one for %q: a node keeps its identity", r.certFile, id, r.id)
	}
	if bytes.Equal(leaf.Raw, r.cert.Load().Leaf.Raw) {
		changed = false
	} else {
		r.cert.Store(&cert)
		changed = true
	}
	if ca, err := os.ReadFile(r.caFile); err == nil && !bytes.Equal(ca, r.caPEM) {
		return changed, ErrCAChanged
	}
	return changed, nil
}
