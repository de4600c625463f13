package alerts

import (
	"context"
	"sync"

	"github.com/vigil-ha/vigil/configs"
)

// hookSet is one configuration's alerts, each with its queue; retire is
// closed when a reload replaced them.
type hookSet struct {
	alerts []configs.Alert
	queues []chan Event
	retire chan struct{}
}

func newHookSet(alerts []configs.Alert) *hookSet {
	h := &hookSet{alerts: alerts, retire: make(chan struct{})}
	for range alerts {
		h.queues = append(h.queues, make(chan Event, queueLen))
	}
	return h
}

// SetAlerts switches to a reloaded configuration's alerts: events from now
// on go to the new hooks; events already queued for the old ones still run.
func (x *Dispatcher) SetAlerts(alerts []configs.Alert) {
	x.mu.Lock()
	old := x.hooks
	x.hooks = newHookSet(alerts)
	x.mu.Unlock()
	close(old.retire)
	select {
	case x.changed <- struct{}{}:
	default:
	}
}

func (x *Dispatcher) current() *hookSet {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.hooks
}

// waitForAlerts returns once there are alerts to run (false: ctx ended). A
// node without alerts does not follow the history at all.
func (x *Dispatcher) waitForAlerts(ctx context.Context) bool {
	for len(x.current().alerts) == 0 {
		select {
		case <-ctx.Done():
			return false
		case <-x.changed:
		}
	}
	return true
}

// workers runs every hook set's workers until ctx ends: a retired set's
// workers finish their queue and end.
func (x *Dispatcher) workers(ctx context.Context) {
	var wg sync.WaitGroup
	for {
		h := x.current()
		for i, a := range h.alerts {
			wg.Go(func() { x.work(ctx, a, h.queues[i], h.retire) })
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-h.retire:
		}
	}
}
