package health

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// parseSourceAddress turns an IP literal into the local address a dialer binds
// to (port 0: the kernel picks one). Empty means "let the kernel route".
func parseSourceAddress(typ, s string) (*net.TCPAddr, error) {
	if s == "" {
		return nil, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("%s check: source_address %q is not an IP address: %w", typ, s, err)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)), nil
}

// unescape turns the \n, \r, \t and \\ escapes an operator can write in an
// HCL string meant for the wire (HCL would already decode them in a quoted
// string, but not in heredocs or values passed through other tools).
func unescape(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r", `\t`, "\t", `\0`, "\x00").Replace(s)
}

// truncate shortens s to at most n bytes for Result.Output, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
