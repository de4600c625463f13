package consensus

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/internal/ratelog"
)

// PeerError is the last TLS or identity error seen with one peer.
type PeerError struct {
	Error string
	At    time.Time
}

// peerErrors keeps the last connection error per peer (node name, or the
// remote address when it matches no node) for status warnings, and limits
// the log lines that remote input causes.
type peerErrors struct {
	mu   sync.Mutex
	last map[string]PeerError
	rl   *ratelog.Limiter
}

func newPeerErrors() *peerErrors {
	return &peerErrors{last: map[string]PeerError{}, rl: ratelog.New(20, 5*time.Second)}
}

const maxPeerErrors = 64 // remote addresses that match no node are bounded too

func (p *peerErrors) record(peer string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.last[peer]; !ok && len(p.last) >= maxPeerErrors {
		return
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	p.last[peer] = PeerError{Error: msg, At: time.Now()}
}

func (p *peerErrors) clear(peer string) {
	p.mu.Lock()
	delete(p.last, peer)
	p.mu.Unlock()
}

func (p *peerErrors) snapshot() map[string]PeerError {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]PeerError, len(p.last))
	for k, v := range p.last {
		out[k] = v
	}
	return out
}

// limited logs at warn level unless remote input has been logging too much.
func (p *peerErrors) limited(log hclog.Logger, msg string, args ...any) {
	ok, n := p.rl.Allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Warn(msg, args...)
}
