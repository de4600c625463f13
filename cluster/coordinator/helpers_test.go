package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/state"
)

// newFSM returns the real state machine holding a copy of d.
func newFSM(t *testing.T, d *state.Data) *state.FSM {
	t.Helper()
	fsm := state.NewFSM(nil)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsm.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	return fsm
}

// applyLog applies an encoded command the way raft does.
func applyLog(fsm *state.FSM, idx uint64, b []byte) error {
	if err, ok := fsm.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(error); ok {
		return err
	}
	return nil
}
