package alerts

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// A reload's alerts take over: events after SetAlerts go to the new hooks
// only, with no second "became leader" event; a node that started without
// alerts starts following when a reload adds some.
func TestSetAlertsSwitchesHooks(t *testing.T) {
	st := newStore()
	rec := &recorder{runs: map[string]int{}}
	ok := script(t, "exit 0\n")
	d := New(Deps{Store: st, IsLeader: func() bool { return true }, Node: "lb1", Recorder: rec})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	d.SetAlerts([]configs.Alert{{Name: "old", Exec: ok, Timeout: 5 * time.Second, Events: []string{"node", "leader"}}})
	waitFor(t, "the added hook told of the leader", func() bool { return rec.get("old/ok") == 1 })
	st.add(state.Event{Kind: "node-offline", Node: "lb2", Message: "x"})
	waitFor(t, "the first hook ran", func() bool { return rec.get("old/ok") == 2 })

	kinds := filepath.Join(t.TempDir(), "kinds")
	logKind := script(t, `echo "$VIGIL_ALERT_KIND" >> `+kinds+"\n")
	d.SetAlerts([]configs.Alert{{Name: "new", Exec: logKind, Timeout: 5 * time.Second, Events: []string{"node", "leader"}}})
	st.add(state.Event{Kind: "node-online", Node: "lb2", Message: "y"})
	waitFor(t, "the new hook ran", func() bool { return rec.get("new/ok") == 1 })
	if n := rec.get("old/ok"); n != 2 {
		t.Errorf("the replaced hook ran %d times, want 2 (nothing after the reload)", n)
	}
	// The new hook got the node event only: leadership did not change.
	st.add(state.Event{Kind: "node-offline", Node: "lb2", Message: "z"})
	waitFor(t, "the new hook's second run", func() bool { return rec.get("new/ok") == 2 })
	if b, _ := os.ReadFile(kinds); string(b) != "node\nnode\n" {
		t.Errorf("the new hook saw %q, want two node events (a reload is no leader change)", b)
	}
}
