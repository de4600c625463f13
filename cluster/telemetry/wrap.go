package telemetry

import (
	"context"
	"reflect"
	"time"

	"github.com/vigil-ha/vigil/health"
	"github.com/vigil-ha/vigil/resources"
)

// Resources returns a registry whose agents time every Start, Stop and
// Monitor and count the ones that fail. The executor discovers optional
// abilities of agents by type assertion (periodic refresh, announce), so the
// wrapper mirrors each one it knows; an agent with any other method is left
// unwrapped (untimed) rather than have an ability hidden.
func (m *Metrics) Resources(reg resources.Registry) resources.Registry {
	out := make(resources.Registry, len(reg))
	for typ, f := range reg {
		out[typ] = func(s resources.Spec) (resources.Agent, error) {
			a, err := f(s)
			if err != nil {
				return nil, err
			}
			w := wrapAgent(timedAgent{m: m, a: a, labels: [3]string{s.Group, s.Name, typ}})
			if hides(a, w) {
				m.d.Logger.Debug("resource agent has abilities the metrics wrapper does not know; not timed", "type", typ)
				return a, nil
			}
			return w, nil
		}
	}
	return out
}

// refresher and announcer mirror the executor's optional interfaces.
type refresher interface {
	Refresh(ctx context.Context) error
	RefreshInterval() time.Duration
}

type announcer interface {
	Announce(ctx context.Context) error
}

func wrapAgent(t timedAgent) resources.Agent {
	rf, isR := t.a.(refresher)
	an, isA := t.a.(announcer)
	switch {
	case isR && isA:
		return timedBoth{timedRefresher{t, rf}, an}
	case isR:
		return timedRefresher{t, rf}
	case isA:
		return timedAnnouncer{t, an}
	}
	return t
}

// harmless are methods no consumer looks for on an agent.
func harmless(name string) bool { return name == "Close" || name == "String" }

// hides reports whether wrapped lacks a method of a.
func hides(a, wrapped any) bool {
	at, wt := reflect.TypeOf(a), reflect.TypeOf(wrapped)
	for i := 0; i < at.NumMethod(); i++ {
		name := at.Method(i).Name
		if _, ok := wt.MethodByName(name); !ok && !harmless(name) {
			return true
		}
	}
	return false
}

type timedAgent struct {
	m      *Metrics
	a      resources.Agent
	labels [3]string // group, resource, type
}

func (t timedAgent) observe(op string, start time.Time, err error) {
	l := []string{t.labels[0], t.labels[1], t.labels[2], op}
	t.m.resOpDur.WithLabelValues(l...).Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.resOpFail.WithLabelValues(l...).Inc()
	}
}

func (t timedAgent) Start(ctx context.Context) error {
	start := time.Now()
	err := t.a.Start(ctx)
	t.observe("start", start, err)
	return err
}

func (t timedAgent) Stop(ctx context.Context) error {
	start := time.Now()
	err := t.a.Stop(ctx)
	t.observe("stop", start, err)
	return err
}

// Monitor counts a failed resource (not only an error deciding) as a failure.
func (t timedAgent) Monitor(ctx context.Context) (resources.State, error) {
	start := time.Now()
	s, err := t.a.Monitor(ctx)
	ferr := err
	if ferr == nil && s == resources.Failed {
		ferr = errFailed
	}
	t.observe("monitor", start, ferr)
	return s, err
}

type timedRefresher struct {
	timedAgent
	r refresher
}

func (t timedRefresher) Refresh(ctx context.Context) error {
	start := time.Now()
	err := t.r.Refresh(ctx)
	t.observe("refresh", start, err)
	return err
}

func (t timedRefresher) RefreshInterval() time.Duration { return t.r.RefreshInterval() }

type timedAnnouncer struct {
	timedAgent
	an announcer
}

func (t timedAnnouncer) Announce(ctx context.Context) error { return announce(t.timedAgent, t.an, ctx) }

type timedBoth struct {
	timedRefresher
	an announcer
}

func (t timedBoth) Announce(ctx context.Context) error { return announce(t.timedAgent, t.an, ctx) }

func announce(t timedAgent, an announcer, ctx context.Context) error {
	start := time.Now()
	err := an.Announce(ctx)
	t.observe("announce", start, err)
	return err
}

type failedErr struct{}

func (failedErr) Error() string { return "resource failed" }

var errFailed error = failedErr{}

// Check wraps one health check so that its results are counted and its
// probes timed.
func (m *Metrics) Check(group, name string, c health.Check) health.Check {
	return timedCheck{m: m, c: c, group: group, name: name}
}

type timedCheck struct {
	m           *Metrics
	c           health.Check
	group, name string
}

func (t timedCheck) Run(ctx context.Context) health.Result {
	start := time.Now()
	r := t.c.Run(ctx)
	res := "ok"
	if !r.OK {
		res = "failed"
	}
	t.m.checkRuns.WithLabelValues(t.group, t.name, res).Inc()
	t.m.checkDur.WithLabelValues(t.group, t.name).Observe(time.Since(start).Seconds())
	return r
}

// Unwrap returns the wrapped agent, so the executor finds the optional
// abilities (re-announcing addresses) that the wrapper does not repeat.
func (t timedAgent) Unwrap() resources.Agent { return t.a }
