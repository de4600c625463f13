package api

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeUnixCreatesPrivateSocketDir: the socket's directory is created
// 0700 when missing (e.g. /run/vigil after a reboot), the socket is 0600.
func TestServeUnixCreatesPrivateSocketDir(t *testing.T) {
	s, _ := newTestServer(t)
	dir := filepath.Join(t.TempDir(), "run", "vigil")
	path := filepath.Join(dir, "vigil.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeUnix(ctx, path) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socket never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
}
