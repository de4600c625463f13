package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/vigil-ha/vigil/configs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// singleOnDisk starts a one-voter node with its state under dir.
func singleOnDisk(t *testing.T, dir string) *running {
	t.Helper()
	r := start(t, Config{NodeID: "solo", BindAddr: freeAddrs(t, 1)[0], DataDir: dir, Timing: fastTiming()})
	leaderOf(t, []*running{r}, 10*time.Second)
	return r
}

// runErr builds a node on dir and returns what Run returns, which must be
// an error within a few seconds.
func runErr(t *testing.T, dir string) error {
	t.Helper()
	n, err := New(Config{NodeID: "solo", BindAddr: freeAddrs(t, 1)[0], DataDir: dir, FSM: &testFSM{},
		Timing: fastTiming(), Logger: testLogger("solo")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
		cancel()
		<-done
		t.Fatal("raft started on a store it should have refused")
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil")
		}
		return err
	}
	return nil
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	r := singleOnDisk(t, dir)
	for i := range 5 {
		if _, err := r.node.Apply(fmt.Appendf(nil, "e%d", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := singleOnDisk(t, dir)
	waitApplied(t, []*running{r2}, "e4")
	if _, err := r2.node.Apply([]byte("e5"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestTruncatedStoreRefused(t *testing.T) {
	dir := t.TempDir()
	r := singleOnDisk(t, dir)
	payload := strings.Repeat("x", 512)
	for i := range 200 {
		if _, err := r.node.Apply([]byte(fmt.Sprintf("%d-%s", i, payload)), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "raft", "raft.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	half := fi.Size() / 2
	if err := os.Truncate(db, half); err != nil {
		t.Fatal(err)
	}

	err = runErr(t, dir)
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrCorruptStore) || !strings.Contains(err.Error(), db) {
		t.Fatalf("error %q does not name %s as corrupt", err, db)
	}
	if !strings.Contains(err.Error(), "truncated") {
		t.Errorf("error does not say the file is truncated: %v", err)
	}
	after, err := os.Stat(db)
	if err != nil || after.Size() != half {
		t.Fatalf("raft.db was changed or removed: %v, size %d want %d", err, after.Size(), half)
	}
}

func TestGarbageStoreRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "raft", "raft.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("not a bolt database ", 1000))
	if err := os.WriteFile(db, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	err := runErr(t, dir)
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrCorruptStore) || !strings.Contains(err.Error(), db) {
		t.Fatalf("error %q does not name %s as corrupt", err, db)
	}
	if b, _ := os.ReadFile(db); string(b) != string(junk) {
		t.Fatal("raft.db was modified")
	}
}

// TestCorruptPageRefused damages pages behind valid meta pages: the check
// must turn what would be a bbolt panic or fault into an error naming the
// file, and leave the file unlocked so that the next try says the same.
func TestCorruptPageRefused(t *testing.T) {
	for _, keepFreelist := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepFreelist=%v", keepFreelist), func(t *testing.T) {
			dir := t.TempDir()
			r := singleOnDisk(t, dir)
			for i := range 50 {
				if _, err := r.node.Apply(fmt.Appendf(nil, "e%d", i), 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, "raft", "raft.db")
			b, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			m, err := activeBoltMeta(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			ps := int(m.pageSize)
			// Fill every page after the two meta pages with 0xff, so page
			// headers claim absurd types, counts and overflows; optionally
			// spare the freelist so the tree walk meets the damage.
			for i := 2 * ps; i < len(b); i++ {
				if keepFreelist && i/ps == int(m.freelist) {
					continue
				}
				b[i] = 0xff
			}
			if err := os.WriteFile(db, b, 0o600); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				err = runErr(t, dir)
				t.Logf("error: %v", err)
				if !errors.Is(err, ErrCorruptStore) || !strings.Contains(err.Error(), db) {
					t.Fatalf("error %q does not name %s as corrupt", err, db)
				}
			}
		})
	}
}

func TestLockedStoreRefused(t *testing.T) {
	dir := t.TempDir()
	singleOnDisk(t, dir)
	err := runErr(t, dir)
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), "raft.db") {
		t.Fatalf("second node on one data dir: %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n, err := New(Config{NodeID: "a", BindAddr: ln.Addr().String(), InMem: true, FSM: &testFSM{}})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Run on a taken port: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	fsm := &testFSM{}
	cases := map[string]Config{
		"no id":          {BindAddr: "127.0.0.1:7300", InMem: true, FSM: fsm},
		"no fsm":         {NodeID: "a", BindAddr: "127.0.0.1:7300", InMem: true},
		"no data dir":    {NodeID: "a", BindAddr: "127.0.0.1:7300", FSM: fsm},
		"wildcard bind":  {NodeID: "a", BindAddr: "0.0.0.0:7300", InMem: true, FSM: fsm},
		"empty host":     {NodeID: "a", BindAddr: ":7300", InMem: true, FSM: fsm},
		"port zero":      {NodeID: "a", BindAddr: "127.0.0.1:0", InMem: true, FSM: fsm},
		"self not peer":  {NodeID: "a", BindAddr: "127.0.0.1:7300", InMem: true, FSM: fsm, Peers: []Peer{{"b", "127.0.0.1:7301"}}},
		"self addr diff": {NodeID: "a", BindAddr: "127.0.0.1:7300", InMem: true, FSM: fsm, Peers: []Peer{{"a", "127.0.0.2:7300"}}},
		"dup peer":       {NodeID: "a", BindAddr: "127.0.0.1:7300", InMem: true, FSM: fsm, Peers: []Peer{{"a", "127.0.0.1:7300"}, {"a", "127.0.0.1:7301"}}},
		"lease > hb": {NodeID: "a", BindAddr: "127.0.0.1:7300", InMem: true, FSM: fsm,
			Timing: func() (tm configs.Timing) { tm = fastTiming(); tm.RaftLeaderLease = time.Second; return }()},
	}
	for name, cfg := range cases {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := New(Config{NodeID: "a", BindAddr: "localhost:7300", InMem: true, FSM: fsm}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
