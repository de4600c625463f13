package consensus

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/raft"
)

// shutdownNoise reports whether a raft log line only says that the
// transport is closing (a connection cut by our own clean stop): that is
// expected, not a warning.
func shutdownNoise(args []any) bool {
	for _, a := range args {
		var s string
		switch v := a.(type) {
		case error:
			if errors.Is(v, raft.ErrTransportShutdown) {
				return true
			}
			s = v.Error()
		case string:
			s = v
		case fmt.Stringer:
			s = v.String()
		default:
			continue
		}
		if strings.Contains(s, "transport shutdown") || strings.Contains(s, "use of closed network connection") {
			return true
		}
	}
	return false
}
