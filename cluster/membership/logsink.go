package membership

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/internal/lasterr"
	"github.com/vigil-ha/vigil/cluster/internal/ratelog"
)

// PeerError is the last decryption or label error seen from one address.
type PeerError = lasterr.Entry

// logSink receives memberlist's log lines. Lines caused by remote input
// (undecryptable or mislabelled packets and streams) are rate limited, and
// the last such error per source IP is kept for status warnings ("gossip key
// mismatch with lb2").
type logSink struct {
	out hclog.Logger
	rl  *ratelog.Limiter

	last lasterr.Set // by source IP
}

func newLogSink(out hclog.Logger) *logSink {
	return &logSink{out: out, rl: ratelog.New(20, 5*time.Second)}
}

var fromRE = regexp.MustCompile(`from=(\S+)`)

func (s *logSink) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	lower := strings.ToLower(line)
	remote := strings.Contains(lower, "from=")
	if remote {
		if m := fromRE.FindStringSubmatch(line); m != nil {
			if h, _, err := net.SplitHostPort(m[1]); err == nil {
				kind := ""
				switch {
				case strings.Contains(lower, "decrypt"), strings.Contains(lower, "no installed keys"):
					kind = "gossip key mismatch (cannot decrypt)"
				case strings.Contains(lower, "label"):
					kind = "gossip label (cluster name) mismatch"
				}
				if kind != "" {
					s.last.Record(h, kind)
				}
			}
		}
		ok, n := s.rl.Allow()
		if !ok {
			return len(p), nil
		}
		if n > 0 {
			line += " (" + strconv.Itoa(n) + " similar lines suppressed)"
		}
	}
	level, msg := hclog.Info, line
	switch {
	case strings.HasPrefix(line, "[ERR]"):
		level, msg = hclog.Error, strings.TrimSpace(line[5:])
	case strings.HasPrefix(line, "[WARN]"):
		level, msg = hclog.Warn, strings.TrimSpace(line[6:])
	case strings.HasPrefix(line, "[INFO]"):
		level, msg = hclog.Info, strings.TrimSpace(line[6:])
	case strings.HasPrefix(line, "[DEBUG]"):
		level, msg = hclog.Debug, strings.TrimSpace(line[7:])
	}
	s.out.Log(relevel(level, lower), msg)
	return len(p), nil
}

// relevel corrects memberlist's level for what vigil reports itself. Its own
// sockets being closed ("use of closed network connection") is what a clean
// stop looks like: debug. A failed ping, gossip or push/pull is what a peer
// that is down or a lossy link causes, and node status and links say so:
// a warning, not an error.
func relevel(level hclog.Level, line string) hclog.Level {
	switch {
	case level < hclog.Warn:
		return level
	case strings.Contains(line, "use of closed network connection"):
		return hclog.Debug
	case level == hclog.Error && networkFault(line):
		return hclog.Warn
	}
	return level
}

// networkFault: the peer or the link failed.
func networkFault(line string) bool {
	for _, s := range []string{"i/o timeout", "connection refused", "connection reset", "broken pipe",
		"no route to host", "network is unreachable", ": eof"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (s *logSink) errors() map[string]PeerError { return s.last.Snapshot() }
