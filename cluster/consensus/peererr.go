package consensus

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/internal/lasterr"
	"github.com/vigil-ha/vigil/cluster/internal/ratelog"
)

// PeerError is the last TLS or identity error seen with one peer.
type PeerError = lasterr.Entry

// peerErrors keeps the last connection error per peer (node name, or the
// remote address when it matches no node) for status warnings, and limits
// the log lines that remote input causes.
type peerErrors struct {
	last lasterr.Set
	rl   *ratelog.Limiter
}

func newPeerErrors() *peerErrors {
	return &peerErrors{rl: ratelog.New(20, 5*time.Second)}
}

func (p *peerErrors) record(peer string, err error) {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	p.last.Record(peer, msg)
}

func (p *peerErrors) clear(peer string) { p.last.Clear(peer) }

func (p *peerErrors) snapshot() map[string]PeerError { return p.last.Snapshot() }

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
