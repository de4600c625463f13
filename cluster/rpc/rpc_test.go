package rpc

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/state"
)

// leaderRaft is a one-node raft that applies straight to a real FSM.
type leaderRaft struct {
	fsm *state.FSM
	idx uint64
}

func (r *leaderRaft) IsLeader() bool                            { return true }
func (r *leaderRaft) Leader() (string, string)                  { return "lb1", "lb1:7300" }
func (r *leaderRaft) ReadIndex(context.Context) (uint64, error) { return r.idx, nil }
func (r *leaderRaft) Apply(b []byte, _ time.Duration) (any, error) {
	r.idx++
	return r.fsm.Apply(&raft.Log{Index: r.idx, Type: raft.LogCommand, Data: b}), nil
}

func newTestServer() (*Server, *state.FSM) {
	fsm := state.NewFSMFor(nil, state.Known{Nodes: []string{"lb1", "lb2", "w"},
		Groups: map[string][]string{"web": {"vip"}}})
	r := &leaderRaft{fsm: fsm}
	return NewServer(ServerDeps{Raft: r, Client: NewClient(r, nil), Local: func() any { return "local" }}), fsm
}

func post(h http.Handler, peer string, body []byte) int {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/internal/apply", bytes.NewReader(body))
	if peer != "" {
		req = req.WithContext(WithPeer(context.Background(), peer))
	}
	h.ServeHTTP(rec, req)
	return rec.Code
}

func enc(t *testing.T, c state.Command) []byte {
	t.Helper()
	b, err := state.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuthorize is the allow-list, command by command.
func TestAuthorize(t *testing.T) {
	now := time.Now()
	cases := []struct {
		c  state.Command
		ok bool
	}{
		{&state.GroupReport{Group: "web", Node: "lb2", State: state.GroupStarted}, true},
		{&state.GroupReport{Group: "web", Node: "lb1", State: state.GroupStopped}, false},
		{&state.ResourceFailed{Group: "web", Resource: "vip", Node: "lb2", Count: 1000000}, true},
		{&state.ResourceFailed{Group: "web", Resource: "vip", Node: "lb1"}, false},
		{&state.SetLeaving{Node: "lb2", Leaving: true}, true},
		{&state.SetLeaving{Node: "lb1", Leaving: true}, false},
		{&state.SetLeaving{Node: "lb1", Leaving: false}, true}, // `vigil node online lb1` forwarded from lb2
		{&state.SetStandby{Node: "lb1", Standby: true}, true},  // operator command forwarded from lb2's socket
		{&state.Pin{Group: "web", Node: "lb2"}, true},
		{&state.Restart{Group: "web"}, true},
		{&state.SetMaintenance{On: true}, true},
		{&state.Cleanup{Group: "web"}, true},
		{&state.Cleanup{Group: "web", Before: now}, false},
		{&state.Assign{Group: "web", Node: "lb2"}, false},
		{&state.ClearHolder{Group: "web", Node: "lb1"}, false},
		{&state.MarkUnmanaged{Group: "web", Node: "lb1"}, false},
		{&state.SetNodeStatus{Node: "lb1", Status: state.NodeFenced}, false},
		{&state.RecordFence{FenceRecord: state.FenceRecord{Target: "lb1", OK: true}}, false},
		{&state.RecordEvent{Kind: "x", Message: "y"}, false},
		{nil, false},
	}
	for _, c := range cases {
		if err := Authorize("lb2", c.c); (err == nil) != c.ok {
			t.Errorf("%T %+v from lb2: err %v, want allowed=%v", c.c, c.c, err, c.ok)
		}
	}
}

// TestApplyEndpoint: unidentified callers, refused commands, garbage and
// oversized bodies change nothing; an allowed report commits.
func TestApplyEndpoint(t *testing.T) {
	s, fsm := newTestServer()
	h := s.Handler()
	if code := post(h, "", enc(t, &state.SetLeaving{Node: "lb2", Leaving: true})); code != http.StatusForbidden {
		t.Errorf("unidentified: %d", code)
	}
	if code := post(h, "lb2", enc(t, &state.ClearHolder{Group: "web", Node: "lb1"})); code != http.StatusForbidden {
		t.Errorf("forged release: %d", code)
	}
	if code := post(h, "lb2", []byte{0x7f, '{'}); code != http.StatusBadRequest {
		t.Errorf("garbage: %d", code)
	}
	if code := post(h, "lb2", bytes.Repeat([]byte{'x'}, maxCommand+10)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d", code)
	}
	if d := fsm.Read(); len(d.Nodes)+len(d.Groups)+len(d.Events) != 0 {
		t.Fatalf("state changed: %+v", d)
	}
	if code := post(h, "lb2", enc(t, &state.SetLeaving{Node: "lb2", Leaving: true})); code != http.StatusOK {
		t.Fatalf("allowed: %d", code)
	}
	if n := fsm.Read().Nodes["lb2"]; n == nil || !n.Leaving {
		t.Fatal("allowed report not committed")
	}
	// Known name rules apply to allowed commands too.
	if code := post(h, "ghost", enc(t, &state.SetLeaving{Node: "ghost", Leaving: true})); code != http.StatusConflict {
		t.Errorf("unknown node: %d", code)
	}
}

// FuzzApplyEndpoint: whatever a peer sends, the endpoint answers without
// panicking, and only commands the allow-list admits reach the state.
func FuzzApplyEndpoint(f *testing.F) {
	for _, c := range []state.Command{
		&state.GroupReport{Group: "web", Node: "lb2", State: state.GroupStarted},
		&state.ClearHolder{Group: "web", Node: "lb1"},
		&state.SetStandby{Node: "lb1", Standby: true},
		&state.RecordEvent{Kind: "k", Message: "m"},
	} {
		b, _ := state.Encode(c)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x85, '{', '}'})
	f.Add([]byte{byte(state.TypeAssign), '{', '"', 'g', '"', ':', '1', '}'})
	f.Fuzz(func(t *testing.T, body []byte) {
		s, fsm := newTestServer()
		code := post(s.Handler(), "lb2", body)
		d := fsm.Read()
		if code != http.StatusOK && (len(d.Events) > 0 || len(d.Nodes) > 0 || len(d.Groups) > 0) {
			t.Fatalf("refused (%d) but state changed", code)
		}
		if len(d.Fencing) > 0 {
			t.Fatal("fence record from the wire")
		}
		for _, g := range d.Groups {
			if g.Holder != "" || g.Node != "" {
				t.Fatalf("placement from the wire: %+v", g)
			}
		}
	})
}
