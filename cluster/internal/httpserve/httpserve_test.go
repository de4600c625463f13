package httpserve

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func serve(t *testing.T, lim Limits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = Serve(ctx, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			_, _ = w.Write([]byte("ok " + string(rune('0'+len(b)%10))))
		}), lim, hclog.NewNullLogger(), nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String()
}

func get(addr string) (int, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("hi"))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestIdleFloodFromOneAddress: a client holding hundreds of idle
// connections gets only its share; another client is still served at once.
func TestIdleFloodFromOneAddress(t *testing.T) {
	addr := serve(t, Limits{MaxConns: 16})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var held []net.Conn
	for range 200 {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			break
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if code, err := get(addr); err != nil || code != 200 {
		t.Fatalf("other client during the flood: %d %v", code, err)
	}
	open := 0
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && strings.Contains(err.Error(), "timeout") {
			open++
		}
	}
	if open > 4 {
		t.Fatalf("%d idle connections from one address held open, want at most 4", open)
	}
}

// TestSlowAndLargeRequests: a trickled request is cut off by the header
// timeout, and a body over the limit is refused.
func TestSlowAndLargeRequests(t *testing.T) {
	addr := serve(t, Limits{ReadHeader: 300 * time.Millisecond, MaxBody: 1024})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.ReadAll(c)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("trickled request held %v", d)
	}
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Post("http://"+addr+"/", "text/plain", strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("4 KiB body with a 1 KiB limit: %d", resp.StatusCode)
	}
}
