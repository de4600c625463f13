// Package tlsutil creates and loads the certificates for mutual TLS on the
// cluster link (raft and forwarded calls between agents) and the TCP API.
//
// Trust is the cluster's own CA: every agent holds the CA certificate plus a
// certificate of its own, named after the node, valid for both server and
// client authentication. Every certificate carries one identity, a role and
// a name (identity.go): the cluster port accepts only node certificates of
// configured nodes, the TCP API only operator certificates. Dialers verify
// that a peer presents the node certificate of the node they meant to reach.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 5 * 365 * 24 * time.Hour
	// Tolerates peers whose clocks lag behind the one that signed.
	backdate = time.Hour
)

// CreateCA writes a new ECDSA P-256 certificate authority to dir as ca.pem
// and ca-key.pem (mode 0600). It refuses to overwrite either file.
func CreateCA(dir string) (certPath, keyPath string, err error) {
	certPath = filepath.Join(dir, "ca.pem")
	keyPath = filepath.Join(dir, "ca-key.pem")
	if err := refuseExisting(certPath, keyPath); err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vigil cluster CA", Organization: []string{"vigil"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// CreateCert signs a node certificate for node with the CA in caCert/caKey
// and writes it to dir as <node>.pem and <node>-key.pem (mode 0600). The node
// name is the CN, a DNS SAN and the identity URI vigil://node/<node>; ips and
// dnsNames are added as SANs. The certificate is valid for both server and
// client authentication, since every agent both accepts and dials cluster
// connections.
func CreateCert(caCert, caKey, dir, node string, ips []net.IP, dnsNames []string) (certPath, keyPath string, err error) {
	if !validName(node) {
		return "", "", fmt.Errorf("invalid node name %q: use letters, digits, '-', '_' and '.' (at most 64)", node)
	}
	names := []string{node}
	for _, d := range dnsNames {
		if d != node {
			names = append(names, d)
		}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: node, Organization: []string{"vigil"}, OrganizationalUnit: []string{RoleNode}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    names,
		IPAddresses: ips,
	}
	return sign(caCert, caKey, dir, node, Identity{Role: RoleNode, Name: node}, tmpl)
}

// CreateOperatorCert signs an operator (client only) certificate for name and
// writes it to dir as operator-<name>.pem and operator-<name>-key.pem. It is
// accepted by the TCP API and refused on the cluster port.
func CreateOperatorCert(caCert, caKey, dir, name string) (certPath, keyPath string, err error) {
	if !validName(name) {
		return "", "", fmt.Errorf("invalid operator name %q: use letters, digits, '-', '_' and '.' (at most 64)", name)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"vigil"}, OrganizationalUnit: []string{RoleOperator}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return sign(caCert, caKey, dir, "operator-"+name, Identity{Role: RoleOperator, Name: name}, tmpl)
}

// sign completes tmpl (serial, validity, identity URI), signs it with the CA
// and writes <file>.pem and <file>-key.pem in dir.
func sign(caCert, caKey, dir, file string, id Identity, tmpl *x509.Certificate) (certPath, keyPath string, err error) {
	// The CA key signs every identity in the cluster: one that others can
	// read is a cluster anyone on the host can join.
	if err := CheckKeyPerms(caKey); err != nil {
		return "", "", fmt.Errorf("CA key: %w", err)
	}
	ca, err := tls.LoadX509KeyPair(caCert, caKey)
	if err != nil {
		return "", "", fmt.Errorf("load CA %s: %w", caCert, err)
	}
	caX509, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return "", "", fmt.Errorf("parse CA %s: %w", caCert, err)
	}
	if !caX509.IsCA {
		return "", "", fmt.Errorf("%s is not a CA certificate", caCert)
	}
	certPath = filepath.Join(dir, file+".pem")
	keyPath = filepath.Join(dir, file+"-key.pem")
	if err := refuseExisting(certPath, keyPath); err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.URIs = append(tmpl.URIs, id.URI())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caX509, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return "", "", fmt.Errorf("create certificate for %s: %w", id, err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// Load builds a mutual TLS 1.3 config: the node's own certificate is
// presented both as server and as client, and peers must present a
// certificate signed by the CA. Callers that dial must set ServerName to the
// peer's node name (on a Clone). A key file readable by group or others is
// refused, like ssh does with private keys.
func Load(caFile, certFile, keyFile string) (*tls.Config, error) {
	if err := CheckKeyPerms(keyFile); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// The error text of LoadX509KeyPair never includes key material.
		return nil, fmt.Errorf("load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// CheckKeyPerms refuses a private key file that group or others may access.
func CheckKeyPerms(keyFile string) error {
	fi, err := os.Stat(keyFile)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("key file %s has mode %04o: it must not be accessible by group or others (chmod 600 %s)",
			keyFile, perm, keyFile)
	}
	return nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite it", p)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	return s, nil
}

// writePair writes the key first (0600, O_EXCL) so that a crash never leaves
// a certificate without its key, nor a key with loose permissions.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	if err := writeExclusive(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeExclusive(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// Set the mode exactly, whatever the umask.
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
