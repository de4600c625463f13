package executor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
)

// batched is a fake address whose type monitors many at once.
type batched struct {
	*fake
	calls, asked *atomic.Int32 // MonitorMany calls, and agents asked in them
}

func (b *batched) MonitorMany(_ context.Context, agents []resources.Agent) ([]resources.State, []error) {
	b.calls.Add(1)
	b.asked.Add(int32(len(agents)))
	states, errs := make([]resources.State, len(agents)), make([]error, len(agents))
	for i, a := range agents {
		states[i], errs[i] = a.Monitor(context.Background())
	}
	return states, errs
}

// A run of addresses whose monitors are due is asked in one MonitorMany;
// a resource that is not an address, or an address not due, is not in it,
// and the outcome of each is that of its own monitor.
func TestDueAddressesAreMonitoredTogether(t *testing.T) {
	var calls, asked atomic.Int32
	now := time.Now()
	mk := func(typ, name string, due bool, running bool) *res {
		f := &fake{name: name, log: &log{}}
		f.running.Store(running)
		x := &res{cfg: configs.Resource{Type: typ, Name: name, MonitorTimeout: time.Second}, agent: f}
		if typ == "ipaddr" {
			x.agent = &batched{fake: f, calls: &calls, asked: &asked}
		}
		if !due {
			x.nextMon = now.Add(time.Hour)
		}
		return x
	}
	r := &runner{res: []*res{
		mk("ipaddr", "a0", true, true), mk("ipaddr", "a1", true, false), mk("ipaddr", "a2", false, true),
		mk("ipaddr", "a3", true, true), mk("exec", "haproxy", true, true), mk("ipaddr", "b0", true, true),
	}}
	out := r.monitorRuns(context.Background(), now)
	if calls.Load() != 1 || asked.Load() != 3 {
		t.Fatalf("MonitorMany called %d times for %d agents, want once for a0, a1, a3", calls.Load(), asked.Load())
	}
	want := map[string]resources.State{"a0": resources.Running, "a1": resources.Stopped, "a3": resources.Running}
	for _, x := range r.res {
		m, ok := out[x]
		if w, in := want[x.cfg.Name]; ok != in || (ok && m.st != w) {
			t.Errorf("%s: batched %v (%v), want batched %v (%v)", x.cfg.Name, ok, m.st, in, w)
		}
	}
}
