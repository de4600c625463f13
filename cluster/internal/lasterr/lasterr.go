// Package lasterr keeps the last error seen per remote peer, bounded, for
// status warnings ("lb2 presents a certificate for lb1", "gossip key
// mismatch with lb2"). The cluster port and the heartbeat link both use it.
package lasterr

import (
	"sync"
	"time"
)

// Entry is the last error seen with one peer.
type Entry struct {
	Error string
	At    time.Time
}

// maxPeers bounds the map: remote addresses that match no node are input
// from anyone.
const maxPeers = 64

// Set is safe for concurrent use; the zero value is ready.
type Set struct {
	mu   sync.Mutex
	last map[string]Entry
}

// Record keeps msg as peer's last error, unless the set is full of others.
func (s *Set) Record(peer, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]Entry{}
	}
	if _, ok := s.last[peer]; !ok && len(s.last) >= maxPeers {
		return
	}
	s.last[peer] = Entry{Error: msg, At: time.Now()}
}

// Clear forgets peer's error (it connected fine since).
func (s *Set) Clear(peer string) {
	s.mu.Lock()
	delete(s.last, peer)
	s.mu.Unlock()
}

// Snapshot returns a copy.
func (s *Set) Snapshot() map[string]Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Entry, len(s.last))
	for k, v := range s.last {
		out[k] = v
	}
	return out
}
