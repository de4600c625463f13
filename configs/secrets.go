package configs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// checkPrivate refuses a secret file that group or others can access, the
// way sshd refuses a private key.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fileErr(path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("'%s' is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("permissions %04o for '%s' are too open; it must not be accessible by group or others (chmod 600)", perm, path)
	}
	return nil
}

// readSecret reads a private file. Errors never include its content.
func readSecret(path string) ([]byte, error) {
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	return b, nil
}

// fileErr phrases an os error without repeating the operation name.
func fileErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read '%s': %w", path, err)
}

// DecodeGossipKey decodes the content of a gossip key file: base64 of 16, 24
// or 32 bytes (AES-128/192/256), as `vigil keygen` writes it.
func DecodeGossipKey(content []byte) ([]byte, error) {
	s := strings.TrimSpace(string(content))
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("is not base64 (generate a key with `vigil keygen`)")
	}
	if !validKeyLen(len(key)) {
		return nil, fmt.Errorf("decodes to %d bytes; a gossip key must be 16, 24 or 32 bytes (generate one with `vigil keygen`)", len(key))
	}
	return key, nil
}

func validKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// loadSecrets reads every file the config names: the gossip key, the TLS
// files and the fence devices' *_file secrets. Problems are reported at the
// key naming the file.
func (d *decoder) loadSecrets(c *Config, schemas Schemas) {
	if p := d.gossipKeyFile; p != "" {
		const key = "cluster.gossip_key_file"
		if b, err := readSecret(p); err != nil {
			d.errf(key, "%v", err)
		} else if k, err := DecodeGossipKey(b); err != nil {
			d.errf(key, "'%s' %v", p, err)
		} else {
			c.Cluster.GossipKey = k
		}
	}
	d.loadTLS(c.Cluster.TLS)

	for i := range c.Fences {
		f := &c.Fences[i]
		s := schemas.Fences[f.Type]
		for name, k := range s {
			p, ok := f.Params[name]
			if !k.Secret || !ok || p == "" {
				continue
			}
			b, err := readSecret(p)
			if err != nil {
				d.errf("fence."+f.Name+"."+name, "%v", err)
				continue
			}
			if f.Secrets == nil {
				f.Secrets = map[string][]byte{}
			}
			// A trailing newline is an editor artefact, not part of the password.
			f.Secrets[strings.TrimSuffix(name, "_file")] = []byte(strings.TrimRight(string(b), "\r\n"))
		}
	}
}

// loadTLS checks that the TLS files exist, the key is private and the
// certificate matches the key, so a typo fails at `config validate` rather
// than at the first raft connection.
func (d *decoder) loadTLS(t TLS) {
	const key = "cluster.tls"
	if t.CAFile != "" {
		if b, err := os.ReadFile(t.CAFile); err != nil {
			d.errf(key+".ca_file", "%v", fileErr(t.CAFile, err))
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			d.errf(key+".ca_file", "'%s' holds no PEM certificate", t.CAFile)
		}
	}
	certOK := true
	if t.CertFile != "" {
		if _, err := os.Stat(t.CertFile); err != nil {
			d.errf(key+".cert_file", "%v", fileErr(t.CertFile, err))
			certOK = false
		}
	}
	keyOK := true
	if t.KeyFile != "" {
		if err := checkPrivate(t.KeyFile); err != nil {
			d.errf(key+".key_file", "%v", err)
			keyOK = false
		}
	}
	if t.CertFile != "" && t.KeyFile != "" && certOK && keyOK {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			d.errf(key+".cert_file", "cannot use '%s' with '%s': %v", t.CertFile, t.KeyFile, err)
		}
	}
}
