package consensus

import (
	"net"
	"sync"
)

// Bounds on inbound connections between accept and their protocol byte
// (the TLS handshake). A flood of idle or slow clients from one address
// cannot take the slots that configured peers need.
const (
	maxHandshakesPerHost = 16  // per remote IP
	maxHandshakesOthers  = 128 // all remote IPs that are not configured peers
)

type connLimiter struct {
	mu     sync.Mutex
	names  *nameBook
	byHost map[string]int
	others int
}

func newConnLimiter(names *nameBook) *connLimiter {
	return &connLimiter{names: names, byHost: map[string]int{}}
}

// acquire takes a slot for remote (host:port) and returns its release, or
// false when the remote's budget is spent.
func (l *connLimiter) acquire(remote string) (func(), bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	peer := l.names.byHost(remote) != remote
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byHost[host] >= maxHandshakesPerHost || (!peer && l.others >= maxHandshakesOthers) {
		return nil, false
	}
	l.byHost[host]++
	if !peer {
		l.others++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.byHost[host]--; l.byHost[host] == 0 {
				delete(l.byHost, host)
			}
			if !peer {
				l.others--
			}
		})
	}, true
}
