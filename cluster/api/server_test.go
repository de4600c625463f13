package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/rpc"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// leaderRaft is a one-node raft that applies straight to an FSM.
type leaderRaft struct{ fsm *state.FSM }

func (r *leaderRaft) IsLeader() bool                            { return true }
func (r *leaderRaft) Leader() (string, string)                  { return "n1", "n1:7300" }
func (r *leaderRaft) Term() uint64                              { return 1 }
func (r *leaderRaft) LastLeaderContact() time.Time              { return time.Now() }
func (r *leaderRaft) ReadIndex(context.Context) (uint64, error) { return 1, nil }
func (r *leaderRaft) Apply(b []byte, _ time.Duration) (any, error) {
	return applyBytes(r.fsm, b), nil
}

func newTestServer(t *testing.T) (*Server, *state.FSM) {
	fsm := state.NewFSM(nil)
	rf := &leaderRaft{fsm: fsm}
	cfg := &configs.Config{NodeName: "n1", Nodes: []configs.Node{{Name: "n1"}, {Name: "n2"}},
		Groups: []configs.Group{{Name: "web"}}}
	s := NewServer(Deps{Config: cfg, Store: fsm, Raft: rf, Applier: rpc.NewClient(rf, nil),
		View: func() Status { return Status{Cluster: "c"} }, Members: func() []Member { return nil },
		Local: func() Local { return Local{} }})
	return s, fsm
}

func do(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	h.ServeHTTP(rec, req.WithContext(context.Background()))
	return rec
}

func TestBadRequestsGetClearErrorsAndChangeNothing(t *testing.T) {
	s, fsm := newTestServer(t)
	cases := []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/v1/node/standby", `{"node":`, 400, "bad request body"},
		{"POST", "/v1/node/standby", `{"node":"n1","standby":true,"extra":1}`, 400, "unknown field"},
		{"POST", "/v1/node/standby", `{"node":"zz","standby":true}`, 404, "no node named"},
		{"POST", "/v1/resource/move", `{"group":"web","node":"zz"}`, 404, "no node named"},
		{"POST", "/v1/resource/explode", `{"group":"web"}`, 404, "unknown resource operation"},
		{"POST", "/v1/resource/cleanup", `{"group":"nope"}`, 404, "no group named"},
		{"POST", "/v1/maintenance", `{"group":"nope","on":true}`, 404, "no group named"},
		{"GET", "/v1/history?limit=-3", ``, 400, "positive integer"},
		{"POST", "/v1/fence", `{"node":"n1"}`, 409, "never fences itself"},
		{"POST", "/v1/fence", `{"node":"n2"}`, 409, "no fencing configured"},
		{"POST", "/v1/fence", `{"node":"n2","confirm":true}`, 409, "no fencing configured"},
	}
	for _, c := range cases {
		rec := do(s.mux, c.method, c.path, c.body)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.msg) {
			t.Errorf("%s %s %s: %d %s, want %d containing %q", c.method, c.path, c.body, rec.Code, rec.Body, c.code, c.msg)
		}
	}
	if d := fsm.Read(); len(d.Events) != 0 || len(d.Nodes) != 0 {
		t.Fatalf("bad requests changed state: %+v", d)
	}
	// A good one does.
	if rec := do(s.mux, "POST", "/v1/node/standby", `{"node":"n2","standby":true}`); rec.Code != 200 {
		t.Fatalf("standby: %d %s", rec.Code, rec.Body)
	}
	if !fsm.Read().Nodes["n2"].Standby {
		t.Fatal("standby not committed")
	}
}

// The raw command endpoint exists only on the cluster port's mTLS channel,
// never on the CLI socket.
func TestInternalApplyNotOnCLISocket(t *testing.T) {
	s, _ := newTestServer(t)
	b, _ := state.Encode(&state.SetStandby{Node: "n1", Standby: true})
	rec := do(s.mux, "POST", "/v1/internal/apply", string(b))
	if rec.Code == 200 {
		t.Fatal("internal apply reachable on the CLI API")
	}
}

func applyBytes(f *state.FSM, b []byte) any {
	return f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b})
}

// Moves that placement would never carry out, and standby of a witness, are
// refused with the reason instead of being accepted and silently ignored.
func TestMovesThatCannotHappenAreRefused(t *testing.T) {
	fsm := state.NewFSM(nil)
	rf := &leaderRaft{fsm: fsm}
	cfg := &configs.Config{NodeName: "n1", Groups: []configs.Group{{Name: "web"}},
		Nodes: []configs.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}, {Name: "w", Witness: true}}}
	s := NewServer(Deps{Config: cfg, Store: fsm, Raft: rf, Applier: rpc.NewClient(rf, nil),
		View: func() Status { return Status{} }, Members: func() []Member { return nil },
		Local: func() Local { return Local{} }})
	for _, c := range []state.Command{
		&state.SetNodeStatus{Node: "n1", Status: state.NodeOnline},
		&state.SetNodeStatus{Node: "n2", Status: state.NodeOnline},
		&state.SetStandby{Node: "n2", Standby: true},
		&state.SetNodeStatus{Node: "w", Status: state.NodeOnline},
	} {
		b, _ := state.Encode(c)
		applyBytes(fsm, b)
	}
	before := len(fsm.Read().Events)
	cases := []struct{ path, body, msg string }{
		{"/v1/resource/move", `{"group":"web","node":"w"}`, "cannot move web to w: w is a witness"},
		{"/v1/resource/move", `{"group":"web","node":"n2"}`, "n2 is in standby"},
		{"/v1/resource/move", `{"group":"web","node":"n3"}`, "n3 has not been seen"},
		{"/v1/node/standby", `{"node":"w","standby":true}`, "w is a witness"},
	}
	for _, c := range cases {
		rec := do(s.mux, "POST", c.path, c.body)
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), c.msg) {
			t.Errorf("%s %s: %d %s, want 409 containing %q", c.path, c.body, rec.Code, rec.Body, c.msg)
		}
	}
	if d := fsm.Read(); len(d.Events) != before || d.Groups["web"] != nil && d.Groups["web"].MovedTo != "" {
		t.Fatalf("refused requests changed state: %+v", d.Events[before:])
	}
	if rec := do(s.mux, "POST", "/v1/resource/move", `{"group":"web","node":"n1"}`); rec.Code != 200 {
		t.Fatalf("move to an eligible node: %d %s", rec.Code, rec.Body)
	}
	if got := fsm.Read().Groups["web"].MovedTo; got != "n1" {
		t.Fatalf("pin not committed: %q", got)
	}
}
