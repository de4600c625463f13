package agent

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
)

// TestHarnessForgedAppliesRefused: a node (a configured member, so past the
// certificate check) forwards placement and fencing decisions and reports
// about another node to the leader. Every one is refused; the group stays
// on its holder without a restart, the leader keeps office, and no record
// is created.
func TestHarnessForgedAppliesRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node harness")
	}
	h := newHarnessTiming(t, "lan")
	h.waitFor("a leader", 20*time.Second, func() bool { return h.leader(h.names...) != "" })
	h.settleOn("n1")
	leader := h.leader(h.names...)
	term := h.agents[leader].raft.Term()
	forger := "n2"
	if leader == forger {
		forger = "w"
	}
	before := h.agents[leader].fsm.Read()
	g0 := *before.Groups["web"]
	now := time.Now()
	forged := []state.Command{
		&state.ClearHolder{Group: "web", Node: "n1", Reason: "forged", Time: now},
		&state.Assign{Group: "web", Node: forger, Reason: "forged", Time: now},
		&state.SetNodeStatus{Node: "n1", Status: state.NodeFenced, Reason: "forged", Time: now},
		&state.SetNodeStatus{Node: "ghost", Status: state.NodeOnline, Time: now},
		&state.RecordFence{FenceRecord: state.FenceRecord{Time: now, Target: "n1", Device: "x", OK: true}},
		&state.RecordEvent{Kind: "test", Message: "forged", Time: now},
		&state.GroupReport{Group: "web", Node: "n1", Epoch: g0.Epoch, State: state.GroupStopped, Time: now},
		&state.ResourceFailed{Group: "web", Resource: "svc", Node: "n1", Count: 1000000, Time: now},
		&state.SetLeaving{Node: "n1", Leaving: true, Time: now},
		&state.Cleanup{Group: "web", Before: now, Message: "forged expiry", Time: now},
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return h.rpc.dialer(forger+":7300")(ctx, leader+":7300", leader)
	}}}
	post := func(body []byte) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader+"/v1/internal/apply", bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	for _, c := range forged {
		b, err := state.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if code, msg := post(b); code != http.StatusForbidden {
			t.Errorf("%T from %s: %d %s, want 403", c, forger, code, msg)
		}
	}
	big, _ := state.Encode(&state.GroupReport{Group: "web", Node: forger, State: state.GroupStopped, Reason: strings.Repeat("x", 1<<20)})
	if code, _ := post(big); code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest {
		t.Errorf("1 MB command: %d, want 413", code)
	}
	if code, _ := post([]byte("\x00garbage")); code != http.StatusBadRequest {
		t.Errorf("garbage: %d, want 400", code)
	}

	// A report the forger may make (about itself) goes through; once every
	// node applied it, the forgeries had their chance to change something.
	if code, msg := post(mustEncode(t, &state.SetStandby{Node: forger, Standby: false, Time: time.Now()})); code != http.StatusOK {
		t.Fatalf("allowed report refused: %d %s", code, msg)
	}
	idx := h.agents[leader].fsm.Read().Index
	h.waitFor("every node applied the allowed report", 10*time.Second, func() bool {
		for _, n := range h.names {
			if h.agents[n].fsm.Read().Index < idx {
				return false
			}
		}
		return true
	})
	after := h.agents[leader].fsm.Read()
	g1 := after.Groups["web"]
	if g1.Node != "n1" || g1.Holder != "n1" || g1.Epoch != g0.Epoch || g1.State != state.GroupStarted || g1.Restarts != g0.Restarts ||
		g1.FailCount("n1") != 0 {
		t.Errorf("group changed: %+v -> %+v", g0, *g1)
	}
	if after.Nodes["ghost"] != nil || after.Nodes["n1"].Status == state.NodeFenced || after.Nodes["n1"].Leaving {
		t.Errorf("node records changed: %+v", after.Nodes)
	}
	if len(after.Fencing) != len(before.Fencing) {
		t.Errorf("fence record added: %+v", after.Fencing)
	}
	for _, e := range after.Events[len(before.Events):] {
		if strings.Contains(e.Message, "forged") {
			t.Errorf("forged event recorded: %+v", e)
		}
	}
	if !h.startedOn("n1") {
		t.Error("web no longer started on n1 alone")
	}
	if h.leader(h.names...) != leader || h.agents[leader].raft.Term() != term {
		t.Errorf("leadership changed: %s term %d -> %s term %d", leader, term, h.leader(h.names...), h.agents[leader].raft.Term())
	}
	h.check()
}

func mustEncode(t *testing.T, c state.Command) []byte {
	t.Helper()
	b, err := state.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
