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
	h := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug})
	l := log.New(quietShutdown{h.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})}, "", 0)
	l.Printf("[ERR] memberlist: Error accepting TCP connection: accept tcp 127.0.0.1:7301: use of closed network connection")
	l.Printf("[ERR] memberlist: Failed to send ping: write udp: no route to host")
	out := buf.String()
	if !strings.Contains(out, "[DEBUG] memberlist: Error accepting TCP") || !strings.Contains(out, "[ERROR] memberlist: Failed to send ping") {
		t.Errorf("levels:\n%s", out)
	}
}
