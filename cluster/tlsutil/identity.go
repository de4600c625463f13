package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Roles a certificate can carry. A node certificate lets its holder speak
// raft and report about that node on the cluster port; an operator
// certificate lets its holder use the operator API over TCP, nothing else.
const (
	RoleNode     = "node"
	RoleOperator = "operator"
)

// uriScheme names vigil identities in a certificate's URI SAN:
// vigil://node/lb1, vigil://operator/alice.
const uriScheme = "vigil"

// Identity is who a certificate says its holder is.
type Identity struct {
	Role string
	Name string
}

func (id Identity) String() string { return id.Role + " " + id.Name }

// URI is the SAN that carries the identity in a certificate.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: uriScheme, Host: id.Role, Path: "/" + id.Name}
}

// ErrNoIdentity is returned for a certificate without a vigil identity (for
// example one issued before identities existed): it must be reissued.
var ErrNoIdentity = errors.New("certificate carries no vigil identity (vigil://node/NAME or vigil://operator/NAME URI SAN); reissue it with `vigil tls cert create`")

// IdentityOf reads the identity from a certificate's URI SANs. Exactly one
// vigil URI is allowed, so one certificate never holds two roles by accident.
func IdentityOf(c *x509.Certificate) (Identity, error) {
	var out []Identity
	for _, u := range c.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		name := strings.TrimPrefix(u.Path, "/")
		if (u.Host != RoleNode && u.Host != RoleOperator) || !validName(name) {
			return Identity{}, fmt.Errorf("certificate has a malformed vigil identity %q", u.String())
		}
		out = append(out, Identity{Role: u.Host, Name: name})
	}
	switch len(out) {
	case 0:
		return Identity{}, ErrNoIdentity
	case 1:
		return out[0], nil
	}
	return Identity{}, fmt.Errorf("certificate carries %d vigil identities; exactly one is allowed", len(out))
}

// PeerIdentity returns the identity of the verified peer certificate of a
// TLS connection state.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, errors.New("peer presented no certificate")
	}
	return IdentityOf(cs.PeerCertificates[0])
}

// validName keeps names usable as file names and in URIs.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// AcceptNodes returns a copy of base for the cluster port's server side: it
// accepts only node certificates of nodes for which member is true (the
// configured cluster members), whatever else the CA signed.
func AcceptNodes(base *tls.Config, member func(name string) bool) *tls.Config {
	c := base.Clone()
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := PeerIdentity(cs)
		if err != nil {
			return err
		}
		if id.Role != RoleNode {
			return fmt.Errorf("%s: only node certificates may use the cluster port", id)
		}
		if !member(id.Name) {
			return fmt.Errorf("%s is not a configured node of this cluster", id)
		}
		return nil
	}
	return c
}

// AcceptOperators returns a copy of base for the TCP API: it accepts only
// operator certificates, so a node's certificate (which sits on every node)
// is not an operator credential.
func AcceptOperators(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := PeerIdentity(cs)
		if err != nil {
			return err
		}
		if id.Role != RoleOperator {
			return fmt.Errorf("%s: only operator certificates may use the API (issue one with `vigil tls cert create -operator NAME`)", id)
		}
		return nil
	}
	return c
}

// DialNode returns a copy of base for dialing node's cluster port: the peer
// must present the node certificate of exactly that node.
func DialNode(base *tls.Config, node string) *tls.Config {
	c := base.Clone()
	c.ServerName = node
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := PeerIdentity(cs)
		if err != nil {
			return err
		}
		if id.Role != RoleNode || id.Name != node {
			return fmt.Errorf("%s presents a certificate for %s", node, id)
		}
		return nil
	}
	return c
}
