package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// writeHealth records whether this node can write its raft stores. A node
// whose disk is full still answers heartbeats and renews its lease, so it
// looks healthy everywhere, but it stores no entry: it takes no part in
// commits, and one more node lost costs the quorum. raft only logs each
// failed append; StoreError says so for storeErrorHold after the last
// failure. Not until the next success: on a full disk some writes still fit
// in free pages of the store (a vote, a small append) and would make the
// warning flap.
type writeHealth struct {
	mu      sync.Mutex
	err     error     // the last failure's
	first   time.Time // when failures began (this episode)
	last    time.Time // the last failure
	changed chan struct{}
	now     func() time.Time // tests; nil: time.Now
}

// storeErrorHold is how long a write failure is reported after the last one.
// raft retries a failing append with a pause that doubles up to seconds.
const storeErrorHold = 30 * time.Second

func (w *writeHealth) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

func (w *writeHealth) note(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock()
	if w.err == nil || now.Sub(w.last) > storeErrorHold {
		w.first = now
		select {
		case w.changesLocked() <- struct{}{}:
		default:
		}
	}
	w.err, w.last = err, now
}

func (w *writeHealth) changesLocked() chan struct{} {
	if w.changed == nil {
		w.changed = make(chan struct{}, 1)
	}
	return w.changed
}

// StoreError is the last error writing this node's raft stores, when
// failures began and until when it is reported (storeErrorHold after the
// last one), or "" when none failed for that long. A path in the error is
// reduced to its file name.
func (n *Node) StoreError() (msg string, since, until time.Time) {
	w := &n.writes
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil || w.clock().Sub(w.last) > storeErrorHold {
		return "", time.Time{}, time.Time{}
	}
	return shortStoreError(w.err), w.first, w.last.Add(storeErrorHold)
}

// StoreChanges receives when writes begin failing (StoreError's end is
// its until, known in advance).
func (n *Node) StoreChanges() <-chan struct{} {
	w := &n.writes
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changesLocked()
}

func shortStoreError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s %s: %v", pe.Op, filepath.Base(pe.Path), pe.Err)
	}
	return err.Error()
}

// watchedLogs and watchedStable note every write's outcome.
type watchedLogs struct {
	raft.LogStore
	w *writeHealth
}

func (s watchedLogs) StoreLog(l *raft.Log) error {
	err := s.LogStore.StoreLog(l)
	s.w.note(err)
	return err
}

func (s watchedLogs) StoreLogs(ls []*raft.Log) error {
	err := s.LogStore.StoreLogs(ls)
	s.w.note(err)
	return err
}

type watchedStable struct {
	raft.StableStore
	w *writeHealth
}

func (s watchedStable) Set(k, v []byte) error {
	err := s.StableStore.Set(k, v)
	s.w.note(err)
	return err
}

func (s watchedStable) SetUint64(k []byte, v uint64) error {
	err := s.StableStore.SetUint64(k, v)
	s.w.note(err)
	return err
}
