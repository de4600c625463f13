package telemetry

import (
	"context"
	"time"

	"github.com/vigil-ha/vigil/health"
	"github.com/vigil-ha/vigil/resources"
)

// Resources returns a registry whose agents time every Start, Stop and
// Monitor and count the ones that fail. Optional abilities of the wrapped
// agent (periodic refresh) stay visible to the executor.
func (m *Metrics) Resources(reg resources.Registry) resources.Registry {
	out := make(resources.Registry, len(reg))
	for typ, f := range reg {
		out[typ] = func(s resources.Spec) (resources.Agent, error) {
			a, err := f(s)
			if err != nil {
				return nil, err
			}
			t := timedAgent{m: m, a: a, labels: [3]string{s.Group, s.Name, typ}}
			if rf, ok := a.(refresher); ok {
				return timedRefresher{timedAgent: t, r: rf}, nil
			}
			return t, nil
		}
	}
	return out
}

// refresher mirrors the executor's optional interface of the same name.
type refresher interface {
	Refresh(ctx context.Context) error
	RefreshInterval() time.Duration
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
