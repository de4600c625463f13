package consensus

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// A clean stop closes raft's transport under its own readers: their
// "transport shutdown" errors are no warning (issue 13).
func TestTransportShutdownIsNotAWarning(t *testing.T) {
	var buf bytes.Buffer
	l := quieter(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug}))
	l.Error("failed to decode incoming command", "error", raft.ErrTransportShutdown)
	l.Warn("failed to appendEntries to", "error", fmt.Errorf("read: %w", raft.ErrTransportShutdown))
	l.Log(hclog.Error, "failed to accept connection", "error", "accept tcp: use of closed network connection")
	l.Error("failed to heartbeat to", "error", "dial tcp: i/o timeout")
	out := buf.String()
	if n := strings.Count(out, "[DEBUG]"); n != 3 {
		t.Errorf("want 3 debug lines:\n%s", out)
	}
	if !strings.Contains(out, "[WARN]  failed to heartbeat to") {
		t.Errorf("a real error is no longer a warning:\n%s", out)
	}
}
