package executor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/resources"
)

// announcer is an agent that can announce its address again on demand
// (ipaddr: a fresh burst of gratuitous ARP / unsolicited NA), so that
// neighbours that learned another node's MAC for it switch back.
type announcer interface {
	Announce(ctx context.Context) error
}

// hurryTimeout bounds the removal of one address once the operator asked
// for an immediate exit (second signal).
const hurryTimeout = 5 * time.Second

// due reports whether the operation b guards may run now.
func (r *runner) due(b *retry, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return b.due(now)
}

// noteFail records the last failed operation of x for status.
func (r *runner) noteFail(x *res, op, err string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case op == x.failOp:
		x.failErr, x.failN = err, x.failN+1
	default:
		x.failOp, x.failErr, x.failN = op, err, 1
	}
}

// clearFail forgets x's failure record once op worked. When no resource of
// the group has a failure left (a monitor passed after the restart), the
// restart back-off ends too.
func (r *runner) clearFail(x *res, op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if x.failOp != op {
		return
	}
	x.failOp, x.failErr, x.failN = "", "", 0
	for _, y := range r.res {
		if y.failOp != "" {
			return
		}
	}
	r.startRetry.reset()
}

// noteCleanup resets the back-offs when the operator cleaned the group up:
// it left the blocked state, or this node's fail count dropped.
func (r *runner) noteCleanup(g *state.Group) {
	me := r.d.Config.NodeName
	blocked := g != nil && g.Holder == me && g.State == state.GroupBlocked
	fc := 0
	if g != nil {
		fc = g.FailCount(me)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if (r.blocked && !blocked) || fc < r.failCount {
		r.log.Info("group cleaned up: retrying at once")
		r.stopRetry.reset()
		r.startRetry.reset()
	}
	r.blocked, r.failCount = blocked, fc
}

// noteRejoins returns a node whose replicated status went back to online
// since the last step ("" if none). A node that was lost may have answered
// for our addresses, or still had them (a stale VIP it has just removed):
// neighbours then hold its MAC until their cache expires unless we announce.
func (r *runner) noteRejoins(data *state.Data) string {
	me := r.d.Config.NodeName
	rejoined := ""
	seen := make(map[string]string, len(data.Nodes))
	for name, n := range data.Nodes {
		seen[name] = n.Status
		prev, ok := r.seen[name]
		if name != me && ok && prev != "" && prev != state.NodeOnline && n.Status == state.NodeOnline {
			rejoined = name
		}
	}
	r.seen = seen
	return rejoined
}

// announce re-announces every running address of the group.
func (r *runner) announce(ctx context.Context, why string) {
	for _, x := range r.res {
		if r.get(x) == resources.Running {
			r.announceOne(ctx, x, why)
		}
	}
}

func (r *runner) announceOne(ctx context.Context, x *res, why string) {
	an, ok := ability[announcer](x.agent)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, x.cfg.MonitorTimeout)
	defer cancel()
	if err := an.Announce(cctx); err != nil {
		r.log.Warn("re-announcing failed", "resource", x.cfg.Name, "error", err)
		return
	}
	r.log.Info("re-announced address", "resource", x.cfg.Name, "why", why)
}

// shutdown runs when the agent stops: it releases everything this node
// runs, addresses first, unless the group is in maintenance (hands off means
// hands off, at shutdown too). Once hurry is closed (a second signal) only
// the addresses are removed. It returns an error naming what is still
// running, so that the agent does not exit 0 with resources left behind.
func (r *runner) shutdown(hurry <-chan struct{}) error {
	data := r.d.Store.Read()
	if data.HandsOff(r.cfg.Name, r.cfg.Maintenance) {
		if r.anyRunning() {
			r.log.Info("maintenance mode: leaving the group's resources as they are")
		}
		return nil
	}
	if !r.anyRunning() {
		return nil
	}
	if !r.confirmed {
		// It never acted since it started (current.go): what runs is as the
		// probe found it, which is what the cluster last asked for here.
		r.log.Info("state not confirmed since the start: leaving the group's resources as they were found")
		return nil
	}
	select {
	case <-hurry:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), r.maxStop())
		done := make(chan struct{})
		go func() {
			select {
			case <-hurry:
				cancel() // the stop in progress gives up; the addresses go below
			case <-done:
			}
		}()
		r.stopAll(ctx, true)
		close(done)
		cancel()
	}
	select {
	case <-hurry:
		r.stopAddresses()
	default:
	}
	return r.leftRunning()
}

// stopAddresses removes the group's addresses, each bounded briefly.
func (r *runner) stopAddresses() {
	for _, x := range r.res {
		if !ipLike(x.cfg.Type) || r.get(x) == resources.Stopped {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(x.cfg.StopTimeout, hurryTimeout))
		err := x.agent.Stop(ctx)
		cancel()
		if err != nil {
			r.log.Error("cannot remove address", "resource", x.cfg.Name, "error", err)
			r.noteFail(x, "stop", err.Error())
			continue
		}
		r.set(x, resources.Stopped)
	}
}

// leftRunning names the resources not known stopped.
func (r *runner) leftRunning() error {
	var left []string
	r.mu.Lock()
	for _, x := range r.res {
		if x.state == resources.Stopped {
			continue
		}
		s := r.cfg.Name + "/" + x.cfg.Name
		if x.failOp == "stop" {
			s += " (stop failed: " + x.failErr + ")"
		} else {
			s += " (not stopped)"
		}
		left = append(left, s)
	}
	r.mu.Unlock()
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(left, ", "))
}

// Failure is an operation that keeps failing on this node, for status.
type Failure struct {
	Resource string
	Op       string // start | stop | monitor
	Attempts int
	Error    string
	// Retry is when the next attempt is due; zero means none until
	// `vigil resource cleanup` (the group is blocked).
	Retry time.Time
}

// failures lists the failing operations; runner.mu must be held.
func (r *runner) failures() []Failure {
	var out []Failure
	for _, x := range r.res {
		if x.failOp == "" {
			continue
		}
		f := Failure{Resource: x.cfg.Name, Op: x.failOp, Attempts: x.failN, Error: x.failErr}
		switch {
		case r.blocked:
		case x.failOp == "stop":
			f.Retry = r.stopRetry.next
		default:
			f.Retry = r.startRetry.next
		}
		out = append(out, f)
	}
	return out
}

// ability finds an optional ability (announcer, refresher) of an agent,
// looking through wrappers that expose Unwrap (telemetry's timing wrapper):
// a wrapper that hid an ability would silently turn off re-announcing.
func ability[T any](a resources.Agent) (T, bool) {
	for {
		if t, ok := a.(T); ok {
			return t, true
		}
		u, ok := a.(interface{ Unwrap() resources.Agent })
		if !ok {
			var zero T
			return zero, false
		}
		a = u.Unwrap()
	}
}
