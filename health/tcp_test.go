package health_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/health"
)

// lineServer accepts connections and answers each line with reply(line);
// an empty reply closes the connection, "HOLD" keeps it open without answering.
func lineServer(t *testing.T, reply func(line string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch out := reply(strings.TrimRight(line, "\r\n")); out {
					case "":
						return
					case "HOLD":
						<-done
						return
					default:
						conn.Write([]byte(out))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func mustTCP(t *testing.T, params map[string]string) health.Check {
	t.Helper()
	c, err := health.NewTCP(health.Spec{Name: "t", Params: params})
	if err != nil {
		t.Fatalf("NewTCP(%v): %v", params, err)
	}
	return c
}

func TestTCPConnect(t *testing.T) {
	addr := lineServer(t, func(string) string { return "" })
	res := runWithin(mustTCP(t, map[string]string{"address": addr}), 2*time.Second)
	if !res.OK || res.Output != "connected to "+addr {
		t.Fatalf("open port: %+v", res)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	res = runWithin(mustTCP(t, map[string]string{"address": closed}), 2*time.Second)
	if res.OK || !strings.Contains(res.Output, "connection refused") {
		t.Fatalf("closed port: %+v", res)
	}
}

func TestTCPSendExpect(t *testing.T) {
	// A redis-like PING/PONG; the escapes are written as an operator would in the config.
	addr := lineServer(t, func(l string) string {
		switch l {
		case "PING":
			return "+PONG\r\n"
		case "SLOW":
			return "HOLD"
		case "BYE":
			return ""
		}
		return "-ERR unknown\r\n"
	})
	ok := runWithin(mustTCP(t, map[string]string{"address": addr, "send": `PING\r\n`, "expect": "+PONG"}), 2*time.Second)
	if !ok.OK {
		t.Fatalf("PING/PONG: %+v", ok)
	}

	// Wrong reply: the check waits for expect until its timeout, then shows what it got.
	wrong := runWithin(mustTCP(t, map[string]string{"address": addr, "send": `HELLO\n`, "expect": "+PONG"}), 200*time.Millisecond)
	if wrong.OK || !strings.Contains(wrong.Output, "timeout") || !strings.Contains(wrong.Output, "-ERR unknown") {
		t.Fatalf("wrong reply: %+v", wrong)
	}

	silent := runWithin(mustTCP(t, map[string]string{"address": addr, "send": `SLOW\n`, "expect": "+PONG"}), 200*time.Millisecond)
	if silent.OK || !strings.Contains(silent.Output, "timeout") {
		t.Fatalf("silent server: %+v", silent)
	}

	closed := runWithin(mustTCP(t, map[string]string{"address": addr, "send": `BYE\n`, "expect": "+PONG"}), 2*time.Second)
	if closed.OK || !strings.Contains(closed.Output, "EOF") {
		t.Fatalf("server hung up: %+v", closed)
	}
}

func TestTCPExpectBanner(t *testing.T) {
	// expect without send: wait for a greeting, like an SMTP or SSH banner.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 mail ESMTP\r\n"))
			c.Close()
		}
	}()
	res := runWithin(mustTCP(t, map[string]string{"address": ln.Addr().String(), "expect": "220 "}), 2*time.Second)
	if !res.OK {
		t.Fatalf("banner: %+v", res)
	}
}

func TestTCPParamValidation(t *testing.T) {
	for _, p := range []map[string]string{
		{},
		{"address": "localhost"},
		{"address": ":80"},
		{"address": "127.0.0.1:"},
		{"address": "127.0.0.1:80", "source_address": "nope"},
		{"address": "127.0.0.1:80", "expct": "x"},
	} {
		if _, err := health.NewTCP(health.Spec{Params: p}); err == nil {
			t.Errorf("NewTCP(%v) accepted invalid params", p)
		}
	}
}
