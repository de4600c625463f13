package agent

import (
	"fmt"
	"net"
	"sort"
	"time"
)

// peerWarnWindow: older connection errors are not shown (a peer fixed since
// then would otherwise stay flagged until it reconnects).
const peerWarnWindow = 5 * time.Minute

// peerWarnings lists this node's last TLS, identity and gossip decryption
// errors per peer, for its own status: a node whose certificate or key is
// wrong sees why, instead of only "no leader".
func (a *Agent) peerWarnings() []string {
	var out []string
	now := time.Now()
	for peer, e := range a.raft.PeerErrors() {
		if now.Sub(e.At) < peerWarnWindow {
			out = append(out, fmt.Sprintf("cluster link with %s: %s (%s ago)", peer, e.Error, now.Sub(e.At).Round(time.Second)))
		}
	}
	byHost := map[string]string{}
	for _, n := range a.cfg.Nodes {
		if h, _, err := net.SplitHostPort(n.Heartbeat); err == nil {
			if ip := net.ParseIP(h); ip != nil {
				byHost[ip.String()] = n.Name
			}
		}
	}
	for ip, e := range a.mem.PeerErrors() {
		who := byHost[ip]
		if who == "" {
			who = ip + " (not a configured peer)"
		}
		out = append(out, fmt.Sprintf("heartbeat link: %s with %s (%s ago)", e.Error, who, now.Sub(e.At).Round(time.Second)))
	}
	sort.Strings(out)
	return out
}
