package agent

import (
	"context"
	"net"
	"testing"
	"time"
)

// touchAll connects to every address (what the kernel resolves on the way
// is the point), and a refusal holds nothing up.
func TestTouchAllConnectsToEveryAddress(t *testing.T) {
	var addrs []string
	accepted := make(chan string, 2)
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- ln.Addr().String()
				c.Close()
			}
		}()
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrs = append(addrs, closed.Addr().String())
	closed.Close() // refuses from now on
	start := time.Now()
	touchAll(context.Background(), addrs, 50*time.Millisecond)
	if took := time.Since(start); took > time.Second {
		t.Errorf("touchAll took %v with a 50ms timeout", took)
	}
	for range 2 {
		select {
		case <-accepted:
		case <-time.After(time.Second):
			t.Fatal("an address was not connected to")
		}
	}
}
