package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// maxTCPRead caps how much is read while waiting for expect.
const maxTCPRead = 64 << 10

// TCPCheck connects to an address, optionally sends a payload and waits for
// an expected substring in the reply.
type TCPCheck struct {
	address string
	send    []byte
	expect  []byte
	dialer  *net.Dialer
}

// NewTCP builds a tcp check. Params: address (host:port, required), send and
// expect (optional; \n \r \t \\ \0 escapes are decoded), source_address.
func NewTCP(s Spec) (Check, error) {
	p := s.Params
	if err := TCPSchema().Check("tcp check", p); err != nil {
		return nil, err
	}
	addr := p["address"]
	if addr == "" {
		return nil, errors.New("tcp check: address is required")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tcp check: address %q: %w", addr, err)
	}
	if host == "" || port == "" {
		return nil, fmt.Errorf("tcp check: address %q needs both host and port", addr)
	}
	local, err := parseSourceAddress("tcp", p["source_address"])
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{}
	if local != nil {
		d.LocalAddr = local
	}
	c := &TCPCheck{address: addr, dialer: d}
	if v := p["send"]; v != "" {
		c.send = []byte(unescape(v))
	}
	if v := p["expect"]; v != "" {
		c.expect = []byte(unescape(v))
	}
	return c, nil
}

// Run connects (and talks) once; ctx carries the timeout.
func (c *TCPCheck) Run(ctx context.Context) Result {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.address)
	if err != nil {
		return Result{Output: err.Error(), At: time.Now()}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Also unblock on cancellation without a deadline (agent shutdown).
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if len(c.send) > 0 {
		if _, err := conn.Write(c.send); err != nil {
			return Result{Output: "send: " + err.Error(), At: time.Now()}
		}
	}
	if len(c.expect) == 0 {
		return Result{OK: true, Output: "connected to " + conn.RemoteAddr().String(), At: time.Now()}
	}
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < maxTCPRead {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if bytes.Contains(got, c.expect) {
			return Result{OK: true, Output: fmt.Sprintf("got %q", truncate(string(c.expect), 64)), At: time.Now()}
		}
		if err != nil {
			return Result{Output: fmt.Sprintf("expect %q not seen: %s; got %q",
				truncate(string(c.expect), 64), readErrText(err), truncate(strings.TrimSpace(string(got)), 128)), At: time.Now()}
		}
	}
	return Result{Output: fmt.Sprintf("expect %q not seen in first %d bytes", truncate(string(c.expect), 64), maxTCPRead), At: time.Now()}
}

func readErrText(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}
