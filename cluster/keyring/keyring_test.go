package keyring

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestRotationPersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	r, notice, err := Open(path, key(1))
	if err != nil || notice != "" {
		t.Fatalf("Open: %v %q", err, notice)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a first start must not write the keyring file: %v", err)
	}
	for _, step := range []struct {
		op string
		k  []byte
	}{{OpInstall, key(2)}, {OpUse, key(2)}, {OpRemove, key(1)}} {
		if err := r.Apply(step.op, step.k); err != nil {
			t.Fatalf("%s: %v", step.op, err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode %04o, want 0600", st.Mode().Perm())
	}
	// A restart with the old gossip_key_file keeps the rotated ring and says so.
	r2, notice, err := Open(path, key(1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "not in") {
		t.Fatalf("notice = %q, want a warning that gossip_key_file is stale", notice)
	}
	l := r2.List()
	if l.Primary != Fingerprint(key(2)) || len(l.Keys) != 1 {
		t.Fatalf("after restart: %+v, want only key 2 in use", l)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(Fingerprint(key(2)))) {
		t.Fatal("fingerprints are for display; the file holds keys")
	}
}

func TestRefusals(t *testing.T) {
	r, _, err := Open(filepath.Join(t.TempDir(), FileName), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(OpRemove, key(1)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("removing the key in use: %v", err)
	}
	if err := r.Apply(OpUse, key(3)); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("using a key not installed: %v", err)
	}
	if err := r.Apply(OpInstall, []byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	if l := r.List(); len(l.Keys) != 1 || l.Primary != Fingerprint(key(1)) {
		t.Fatalf("refused operations changed the ring: %+v", l)
	}
}

func TestOpenRefusesReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path, key(1)); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Fatalf("Open of a 0644 keyring: %v", err)
	}
}

func TestFailedSaveLeavesRingUnchanged(t *testing.T) {
	dir := t.TempDir()
	r, _, err := Open(filepath.Join(dir, "missing", FileName), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(OpInstall, key(2)); err == nil {
		t.Fatal("install with an unwritable keyring file succeeded")
	}
	if l := r.List(); len(l.Keys) != 1 {
		t.Fatalf("a change that was not persisted stayed in memory: %+v", l)
	}
}

// cluster builds three services whose Call reaches the others' Local
// handlers; down names nodes that do not answer.
func cluster(t *testing.T, down map[string]bool) map[string]*Service {
	names := []string{"lb1", "lb2", "witness"}
	var nodes []Node
	for _, n := range names {
		nodes = append(nodes, Node{Name: n, Address: n + ":7300"})
	}
	svcs := map[string]*Service{}
	for _, n := range names {
		r, _, err := Open(filepath.Join(t.TempDir(), FileName), key(1))
		if err != nil {
			t.Fatal(err)
		}
		svcs[n] = &Service{Ring: r, Self: n, Nodes: nodes}
	}
	for _, s := range svcs {
		s.Call = func(_ context.Context, n Node, method, path string, in, out any) error {
			if down[n.Name] {
				return context.DeadlineExceeded
			}
			var body bytes.Buffer
			if in != nil {
				_ = json.NewEncoder(&body).Encode(in)
			}
			rec := httptest.NewRecorder()
			svcs[n.Name].Local().ServeHTTP(rec, httptest.NewRequest(method, path, &body))
			if rec.Code != http.StatusOK {
				return &httpErr{rec.Body.String()}
			}
			return json.NewDecoder(rec.Body).Decode(out)
		}
	}
	return svcs
}

type httpErr struct{ s string }

func (e *httpErr) Error() string { return e.s }

func post(t *testing.T, s *Service, op string, k []byte) (int, Reply, string) {
	t.Helper()
	b, _ := json.Marshal(Request{Op: op, Key: encode(k)})
	rec := httptest.NewRecorder()
	s.Operator().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, OperatorPath, bytes.NewReader(b)))
	var r Reply
	if rec.Code == http.StatusOK {
		_ = json.Unmarshal(rec.Body.Bytes(), &r)
	}
	return rec.Code, r, rec.Body.String()
}

func TestFanOutRotatesEveryNode(t *testing.T) {
	svcs := cluster(t, nil)
	for _, op := range []string{OpInstall, OpUse} {
		if code, r, body := post(t, svcs["lb1"], op, key(2)); code != http.StatusOK || len(r.Failed()) > 0 {
			t.Fatalf("%s: %d %s", op, code, body)
		}
	}
	code, r, body := post(t, svcs["lb1"], OpRemove, key(1))
	if code != http.StatusOK || len(r.Failed()) > 0 || len(r.Nodes) != 3 {
		t.Fatalf("remove: %d %s", code, body)
	}
	for name, s := range svcs {
		if l := s.Ring.List(); l.Primary != Fingerprint(key(2)) || len(l.Keys) != 1 {
			t.Errorf("%s: %+v, want only the new key", name, l)
		}
	}
	if strings.Contains(body, encode(key(2))) {
		t.Error("the reply contains a key")
	}
}

func TestUseRefusedWhileANodeIsUnreachable(t *testing.T) {
	down := map[string]bool{}
	svcs := cluster(t, down)
	if _, r, _ := post(t, svcs["lb1"], OpInstall, key(2)); len(r.Failed()) > 0 {
		t.Fatal(r.Failed())
	}
	down["witness"] = true
	code, _, body := post(t, svcs["lb1"], OpUse, key(2))
	if code != http.StatusConflict || !strings.Contains(body, "witness did not answer") {
		t.Fatalf("use with the witness down: %d %s", code, body)
	}
	for name, s := range svcs {
		if s.Ring.List().Primary != Fingerprint(key(1)) {
			t.Errorf("%s switched keys although use was refused", name)
		}
	}
	down["witness"] = false
	// Remove of a key some node still encrypts with is refused too.
	if _, r, _ := post(t, svcs["lb2"], OpUse, key(2)); len(r.Failed()) > 0 {
		t.Fatal(r.Failed())
	}
	_ = svcs["witness"].Ring.Apply(OpUse, key(1)) // a node that was rolled back by hand
	code, _, body = post(t, svcs["lb1"], OpRemove, key(1))
	if code != http.StatusConflict || !strings.Contains(body, "witness still encrypts") {
		t.Fatalf("remove of a key in use on the witness: %d %s", code, body)
	}
}
