package state

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/internal/ratelog"
)

// FSM is the raft.FSM over Data. Readers get deep copies through Read and
// learn about changes through Watch.
type FSM struct {
	log   hclog.Logger
	known *known // nil: any name (tests); sizes are bounded either way
	rl    *ratelog.Limiter

	mu     sync.RWMutex
	data   *Data
	notify chan struct{} // closed and replaced on every change
}

// NewFSM returns an empty state machine.
func NewFSM(log hclog.Logger) *FSM {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &FSM{log: log, data: newData(), notify: make(chan struct{})}
}

// ScratchFSM is an empty, silent state machine for raft to replay the log
// into when it rewrites the stored configuration (consensus.Config
// ScratchFSM: RecoverAlone and `vigil recover`).
func ScratchFSM() raft.FSM { return NewFSM(nil) }

// NewFSMFor returns an empty state machine that refuses names k does not
// list (see Known).
func NewFSMFor(log hclog.Logger, k Known) *FSM {
	f := NewFSM(log)
	f.known = newKnown(k)
	f.rl = ratelog.New(5, 10*time.Second)
	return f
}

// Apply implements raft.FSM. It returns nil or an error (the command was refused).
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := Decode(l.Data)
	if err != nil {
		// A corrupt or unknown entry must not stop the cluster; it changes nothing.
		f.log.Error("skipping undecodable log entry", "index", l.Index, "error", err)
		return err
	}
	if c == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err = f.data.check(f.known, c); err == nil {
		err = f.data.apply(l.Index, c)
	} else if f.rl != nil {
		// Every replica refuses alike; a name unknown here but known to
		// the leader means the nodes' configs differ.
		if ok, n := f.rl.Allow(); ok {
			f.log.Warn("refused a committed command (do all nodes have the same node and group blocks?)",
				"index", l.Index, "error", err, "suppressed", n)
		}
	}
	f.data.Index = l.Index
	f.changed()
	return err
}

// changed wakes watchers; f.mu must be held.
func (f *FSM) changed() {
	close(f.notify)
	f.notify = make(chan struct{})
}

// Read returns a deep copy of the current state.
func (f *FSM) Read() *Data {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Clone()
}

// Watch returns a channel closed at the next change.
func (f *FSM) Watch() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.notify
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{data: f.Read()}, nil
}

// AppliedIndex is the raft index of the last command applied, or of the
// snapshot restored since (consensus waits on it: raft counts an entry
// applied once it is on its way to the FSM, not once the FSM applied it).
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Index
}

// Restore implements raft.FSM. A snapshot that does not decode leaves the
// current state untouched and returns an error naming the problem.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	d := newData()
	if err := json.NewDecoder(rc).Decode(d); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if d.Nodes == nil {
		d.Nodes = map[string]*Node{}
	}
	if d.Groups == nil {
		d.Groups = map[string]*Group{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = d
	f.changed()
	return nil
}

type snapshot struct{ data *Data }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
