// Package keyring keeps this node's gossip keyring: the memberlist keyring
// the heartbeat link encrypts with, persisted in data_dir so that a restart
// keeps the keys an operator installed with `vigil keyring` (like Consul's
// serf/local.keyring). It also serves the keyring API: a node applies an
// operation to its own ring, and the node an operator talks to fans the
// operation out to every configured node (http.go).
package keyring

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/memberlist"
)

// FileName is the keyring file inside data_dir.
const FileName = "keyring.json"

// Operations on a keyring.
const (
	OpInstall = "install" // add a key; it decrypts at once, encrypts after use
	OpUse     = "use"     // make an installed key the one we encrypt with
	OpRemove  = "remove"  // drop a key that is not in use
)

// Ring is a persisted memberlist keyring. Its methods are safe for
// concurrent use.
type Ring struct {
	mu   sync.Mutex // serialises change+persist pairs
	ml   *memberlist.Keyring
	path string
}

// file is the on-disk form (mode 0600).
type file struct {
	Primary string   `json:"primary"` // base64
	Keys    []string `json:"keys"`    // base64, primary included
}

// Open loads path if it exists, else starts a ring holding configKey alone
// (not written until the first change). A keyring file wins over the
// configured key, as in Consul: after a rotation the file holds the live
// keys. notice is non-empty when the configured key is not in the file.
func Open(path string, configKey []byte) (r *Ring, notice string, err error) {
	b, err := readPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		if len(configKey) == 0 {
			return nil, "", errors.New("keyring: no gossip key configured")
		}
		ml, err := memberlist.NewKeyring(nil, configKey)
		if err != nil {
			return nil, "", fmt.Errorf("keyring: %w", err)
		}
		return &Ring{ml: ml, path: path}, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("keyring %s: %w", path, err)
	}
	primary, err := decode(f.Primary)
	if err != nil {
		return nil, "", fmt.Errorf("keyring %s: primary key: %w", path, err)
	}
	var keys [][]byte
	for i, s := range f.Keys {
		k, err := decode(s)
		if err != nil {
			return nil, "", fmt.Errorf("keyring %s: key %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	ml, err := memberlist.NewKeyring(keys, primary)
	if err != nil {
		return nil, "", fmt.Errorf("keyring %s: %w", path, err)
	}
	r = &Ring{ml: ml, path: path}
	if len(configKey) > 0 && !r.has(configKey) {
		notice = fmt.Sprintf("the key in gossip_key_file (%s) is not in %s; the keyring file is used (point gossip_key_file at the current key for new machines)",
			Fingerprint(configKey), path)
	}
	return r, notice, nil
}

// Memberlist returns the keyring to put in memberlist's Config.Keyring.
func (r *Ring) Memberlist() *memberlist.Keyring { return r.ml }

// Listing describes a ring without revealing keys.
type Listing struct {
	Primary string   `json:"primary"` // fingerprint of the key we encrypt with
	Keys    []string `json:"keys"`    // fingerprints of every installed key
}

// List returns the ring's fingerprints.
func (r *Ring) List() Listing {
	var l Listing
	l.Primary = Fingerprint(r.ml.GetPrimaryKey())
	for _, k := range r.ml.GetKeys() {
		l.Keys = append(l.Keys, Fingerprint(k))
	}
	return l
}

// Apply performs op with key and persists the result; if persisting fails
// the ring is put back as it was, so memory and disk never disagree.
func (r *Ring) Apply(op string, key []byte) error {
	if !validLen(len(key)) {
		return fmt.Errorf("a gossip key must be 16, 24 or 32 bytes, got %d", len(key))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var undo func()
	switch op {
	case OpInstall:
		if r.has(key) {
			return nil
		}
		if err := r.ml.AddKey(key); err != nil {
			return err
		}
		undo = func() { _ = r.ml.RemoveKey(key) }
	case OpUse:
		prev := r.ml.GetPrimaryKey()
		if bytes.Equal(prev, key) {
			return nil
		}
		if err := r.ml.UseKey(key); err != nil {
			return fmt.Errorf("key %s is not installed on this node (run `vigil keyring install` first)", Fingerprint(key))
		}
		undo = func() { _ = r.ml.UseKey(prev) }
	case OpRemove:
		if bytes.Equal(r.ml.GetPrimaryKey(), key) {
			return fmt.Errorf("key %s is the key in use; `vigil keyring use` another key first", Fingerprint(key))
		}
		if !r.has(key) {
			return nil
		}
		if err := r.ml.RemoveKey(key); err != nil {
			return err
		}
		undo = func() { _ = r.ml.AddKey(key) }
	default:
		return fmt.Errorf("unknown keyring operation %q (install, use or remove)", op)
	}
	if err := r.save(); err != nil {
		undo()
		return err
	}
	return nil
}

func (r *Ring) has(key []byte) bool {
	for _, k := range r.ml.GetKeys() {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// save writes the ring atomically (temp file, fsync, rename) with mode 0600.
func (r *Ring) save() error {
	f := file{Primary: base64.StdEncoding.EncodeToString(r.ml.GetPrimaryKey())}
	for _, k := range r.ml.GetKeys() {
		f.Keys = append(f.Keys, base64.StdEncoding.EncodeToString(k))
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	dir := filepath.Dir(r.path)
	tmp, err := os.CreateTemp(dir, ".keyring-*")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Rename(tmp.Name(), r.path); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Fingerprint names a key without revealing it: the first 8 bytes of its
// SHA-256, in hex.
func Fingerprint(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	s := sha256.Sum256(key)
	return hex.EncodeToString(s[:8])
}

// DecodeKey decodes a base64 key as `vigil keygen` writes it.
func DecodeKey(s string) ([]byte, error) { return decode(s) }

func decode(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace([]byte(s))))
	if err != nil {
		return nil, errors.New("is not base64")
	}
	if !validLen(len(k)) {
		return nil, fmt.Errorf("decodes to %d bytes; a gossip key must be 16, 24 or 32 bytes", len(k))
	}
	return k, nil
}

func validLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// readPrivate reads a secret file, refusing one group or others can read.
func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("permissions %04o for '%s' are too open; it must not be accessible by group or others (chmod 600)", perm, path)
	}
	return os.ReadFile(path)
}

func encode(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
