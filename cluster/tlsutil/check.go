package tlsutil

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// ExpiryWarning is how long before expiry a certificate is reported.
const ExpiryWarning = 30 * 24 * time.Hour

// CheckNodeCert checks a node's own certificate before the agent uses it:
// the key is private, the certificate chains to caFile, names node as a node
// identity and is valid now. It returns warnings (expiry within 30 days) and
// an error naming every problem found. `config validate` and agent start
// both run it, so a config that validates also starts.
func CheckNodeCert(caFile, certFile, keyFile, node string, now time.Time) (warnings []string, err error) {
	var errs []error
	if err := CheckKeyPerms(keyFile); err != nil {
		errs = append(errs, err)
	}
	cert, err := readCert(certFile)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("read CA file: %w", err))...)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.Join(append(errs, fmt.Errorf("CA file %s holds no PEM certificate", caFile))...)
	}
	_, verr := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	switch {
	case now.After(cert.NotAfter):
		errs = append(errs, fmt.Errorf("certificate %s expired on %s", certFile, cert.NotAfter.Format(time.DateOnly)))
	case now.Before(cert.NotBefore):
		errs = append(errs, fmt.Errorf("certificate %s is not valid before %s (check the clock)", certFile, cert.NotBefore.Format(time.RFC3339)))
	case verr != nil:
		errs = append(errs, fmt.Errorf("certificate %s does not chain to the CA in %s (issued by %q): %w", certFile, caFile, cert.Issuer.CommonName, verr))
	case cert.NotAfter.Sub(now) < ExpiryWarning:
		warnings = append(warnings, fmt.Sprintf("certificate %s expires on %s: issue a new one (see docs/security.md)", certFile, cert.NotAfter.Format(time.DateOnly)))
	}
	id, err := IdentityOf(cert)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("certificate %s: %w", certFile, err))
	case id.Role != RoleNode || id.Name != node:
		errs = append(errs, fmt.Errorf("certificate %s is for %s, but this is node %s", certFile, id, node))
	}
	return warnings, errors.Join(errs...)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certificate file %s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %s: %w", path, err)
	}
	return c, nil
}
