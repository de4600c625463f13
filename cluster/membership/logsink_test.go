package membership

import (
	"bytes"
	"log"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestClosedConnectionIsNotAnError(t *testing.T) {
	var buf bytes.Buffer
	l := log.New(newLogSink(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug})), "", 0)
	l.Printf("[ERR] memberlist: Error accepting TCP connection: accept tcp 127.0.0.1:7301: use of closed network connection")
	l.Printf("[WARN] memberlist: Error reading UDP packet: read udp 127.0.0.1:7301: use of closed network connection")
	l.Printf("[ERR] memberlist: Failed to send ping: write udp: no route to host")
	l.Printf("[ERR] memberlist: Failed to encode message: something else")
	out := buf.String()
	for _, want := range []string{"[DEBUG] memberlist: Error accepting TCP", "[DEBUG] memberlist: Error reading UDP",
		"[WARN]  memberlist: Failed to send ping", "[ERROR] memberlist: Failed to encode"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// A ping or push/pull that failed for want of the peer or the link is a
// warning; a packet that cannot be decrypted stays an error.
func TestNetworkFaultsAreWarnings(t *testing.T) {
	var buf bytes.Buffer
	s := newLogSink(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug}))
	for _, l := range []string{
		"[ERR] memberlist: Failed fallback TCP ping: timeout 100ms: read tcp 198.18.1.11:40000->198.18.1.12:7301: i/o timeout",
		"[ERR] memberlist: Push/Pull with n2 failed: dial tcp 198.18.1.12:7301: connect: connection refused",
		"[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=198.18.1.99:7301",
	} {
		if _, err := s.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	for _, want := range []string{"[WARN]  memberlist: Failed fallback TCP ping", "[WARN]  memberlist: Push/Pull with n2 failed",
		"[ERROR] memberlist: Decrypt packet failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
