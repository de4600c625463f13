package membership

import (
	"bytes"
	"io"
)

// quietShutdown lowers memberlist's log lines about its own sockets being
// closed ("use of closed network connection") to debug: they are what a
// clean stop looks like, not an error. memberlist writes one line per call,
// with its level as a "[ERR]"/"[WARN]" prefix that hclog's standard logger
// adapter reads.
type quietShutdown struct{ w io.Writer }

func (q quietShutdown) Write(p []byte) (int, error) {
	n := len(p)
	if bytes.Contains(p, []byte("use of closed network connection")) {
		for _, lvl := range []string{"[ERR]", "[ERROR]", "[WARN]"} {
			if i := bytes.Index(p, []byte(lvl)); i >= 0 {
				p = append(append(append([]byte{}, p[:i]...), "[DEBUG]"...), p[i+len(lvl):]...)
				break
			}
		}
	}
	if _, err := q.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
