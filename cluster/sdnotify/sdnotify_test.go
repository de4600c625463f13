package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotifySendsDatagrams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := FromEnv(env{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}.get)
	if !n.Enabled() || n.Watchdog != 2*time.Second {
		t.Fatalf("notifier %+v", n)
	}
	for _, s := range []string{"READY=1", "STATUS=leader lb1", "WATCHDOG=1"} {
		if err := n.Notify(s); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := l.Read(buf)
		if err != nil || string(buf[:k]) != s {
			t.Fatalf("read %q, %v; want %q", buf[:k], err, s)
		}
	}
}

func TestNotSupervised(t *testing.T) {
	n := FromEnv(env{"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}.get)
	if n.Enabled() || n.Watchdog != 0 || n.Notify("READY=1") != nil {
		t.Fatalf("notifier %+v", n)
	}
}

type env map[string]string

func (e env) get(k string) string { return e[k] }
