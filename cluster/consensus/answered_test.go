package consensus

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// heartbeatTransport keeps the heartbeat handler raft gives it.
type heartbeatTransport struct {
	raft.Transport
	fn func(raft.RPC)
}

func (t *heartbeatTransport) SetHeartbeatHandler(fn func(raft.RPC)) { t.fn = fn }

// A heartbeat in progress when raft shuts down finishes before the gate
// closes (Run closes the stores after it), and later ones never reach raft.
func TestHeartbeatGateWaitsForOneInProgressAndRefusesTheRest(t *testing.T) {
	inner := &heartbeatTransport{}
	trans, _, closeGate := withAnswers(inner, &answers{}, func(string) {}, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	trans.SetHeartbeatHandler(func(rpc raft.RPC) {
		calls++
		close(entered)
		<-release
		rpc.Respond(nil, nil)
	})
	go inner.fn(raft.RPC{RespChan: make(chan raft.RPCResponse, 1)})
	<-entered
	closed := make(chan struct{})
	go func() { closeGate(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("the gate closed while a heartbeat was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed

	resp := make(chan raft.RPCResponse, 1)
	inner.fn(raft.RPC{RespChan: resp})
	if r := <-resp; !errors.Is(r.Error, raft.ErrTransportShutdown) {
		t.Errorf("a heartbeat after the close was answered %v, want %v", r.Error, raft.ErrTransportShutdown)
	}
	if calls != 1 {
		t.Errorf("raft's handler ran %d times, want 1", calls)
	}
}
