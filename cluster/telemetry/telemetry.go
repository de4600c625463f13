// Package telemetry exports vigil's Prometheus metrics. Gauges (leader,
// quorum, node, link, group and check states) are read from the node's
// status view at scrape time; counters and histograms of failovers and
// fencing are derived from the replicated history as it grows (see package
// timeline); resource operations, health checks and raft commits are timed
// by thin wrappers the agent installs around its collaborators.
package telemetry

import (
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/timeline"
)

// Store is the replicated state as telemetry reads it.
type Store interface {
	Read() *state.Data
	Watch() <-chan struct{}
}

// Deps are the facts telemetry reads. Every func must be cheap and safe to
// call from any goroutine.
type Deps struct {
	Store Store
	// View is this node's status (as `vigil status -stale` shows it).
	View     func() api.Status
	IsLeader func() bool
	// LeaseRemaining is how long this node may still run resources without
	// hearing from a quorum again.
	LeaseRemaining func() time.Duration
	// Contacts lists the nodes this node watches on the cluster link (the
	// leader: every voter; a follower: the leader, or the last one while
	// there is none) with when it last heard from each; a zero time is
	// "watched, but no new contact known".
	Contacts func() map[string]time.Time
	// SampleEvery is how often Follow notes Contacts (0: 100 ms). A lost
	// node's last contact is known exactly if a note falls between that
	// contact and the moment this node stops watching the node (a
	// follower: when the next leader reaches it, at least a raft heartbeat
	// timeout later); else it is known to within this.
	SampleEvery time.Duration
	Logger      hclog.Logger
	Now         func() time.Time
}

// Metrics owns the registry and every collector. Build with New, run Follow
// to derive the history-based series, serve Handler.
type Metrics struct {
	d   Deps
	reg *prometheus.Registry

	failovers     *prometheus.CounterVec
	failoverDur   *prometheus.HistogramVec
	phaseDur      *prometheus.HistogramVec
	fenceAttempts *prometheus.CounterVec
	fenceDur      *prometheus.HistogramVec
	resOpDur      *prometheus.HistogramVec
	resOpFail     *prometheus.CounterVec
	checkRuns     *prometheus.CounterVec
	checkDur      *prometheus.HistogramVec
	commitDur     prometheus.Histogram
	alertRuns     *prometheus.CounterVec
	alertDur      *prometheus.HistogramVec
	alertDropped  *prometheus.CounterVec

	mu       sync.Mutex
	contacts map[contactKey]time.Time // node verdict -> last contact before it
	lastSeen map[string]time.Time
	observed map[string]time.Time // when each node was last in Contacts
}

type contactKey struct {
	node string
	at   int64 // verdict time, unix nanos
}

// Buckets for operations that take milliseconds to a minute.
var opBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New registers every metric on a fresh registry.
func New(d Deps) *Metrics {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SampleEvery <= 0 {
		d.SampleEvery = defaultSampleEvery
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	m := &Metrics{d: d, reg: prometheus.NewRegistry(), contacts: map[contactKey]time.Time{},
		lastSeen: map[string]time.Time{}, observed: map[string]time.Time{}}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	hist := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: opBuckets}, labels)
	}
	m.failovers = counter("vigil_failovers_total", "Groups that stopped on one node and started on another, by cause (from the replicated history).", "group", "cause")
	m.failoverDur = hist("vigil_failover_duration_seconds", "Time from the first phase of a failover to the group started on its new node.", "cause")
	m.phaseDur = hist("vigil_failover_phase_duration_seconds", "Failover phases: detect, decide, fence, stop, start (see docs/observability.md).", "phase")
	m.fenceAttempts = counter("vigil_fence_attempts_total", "Fencing attempts by target, device and result (ok or failed).", "target", "device", "result")
	m.fenceDur = hist("vigil_fence_duration_seconds", "Duration of fencing attempts, until the power state read off.", "device", "result")
	m.resOpDur = hist("vigil_resource_operation_duration_seconds", "Resource agent operations run by this node.", "group", "resource", "type", "op")
	m.resOpFail = counter("vigil_resource_operation_failures_total", "Resource agent operations that returned an error on this node.", "group", "resource", "type", "op")
	m.checkRuns = counter("vigil_health_check_runs_total", "Health check probes run by this node, by result (ok or failed).", "group", "check", "result")
	m.checkDur = hist("vigil_health_check_duration_seconds", "Duration of health check probes run by this node.", "group", "check")
	m.commitDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_raft_commit_duration_seconds",
		Help: "Time for a command proposed on this node (as leader) to be committed and applied.", Buckets: opBuckets})
	m.alertRuns = counter("vigil_alert_runs_total", "Alert hook runs, by result (ok, failed, timeout).", "alert", "result")
	m.alertDur = hist("vigil_alert_duration_seconds", "Duration of alert hook runs.", "alert")
	m.alertDropped = counter("vigil_alert_dropped_total", "Alert events dropped because the hook's queue was full.", "alert")
	m.reg.MustRegister(m.failovers, m.failoverDur, m.phaseDur, m.fenceAttempts, m.fenceDur, m.resOpDur, m.resOpFail,
		m.checkRuns, m.checkDur, m.commitDur, m.alertRuns, m.alertDur, m.alertDropped,
		&stateCollector{m: m, descs: newDescs()},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: hclogAdapter{m.d.Logger}, ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry, for tests that gather directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveCommit records one raft commit latency.
func (m *Metrics) ObserveCommit(d time.Duration) { m.commitDur.Observe(d.Seconds()) }

// AlertRan records one alert hook run; result is ok, failed or timeout.
func (m *Metrics) AlertRan(alert, result string, d time.Duration) {
	m.alertRuns.WithLabelValues(alert, result).Inc()
	m.alertDur.WithLabelValues(alert).Observe(d.Seconds())
}

// AlertDropped records an event a full hook queue could not take.
func (m *Metrics) AlertDropped(alert string) { m.alertDropped.WithLabelValues(alert).Inc() }

// Failovers returns the failovers in the replicated history, with detect
// phases where this node knew the failed node's last contact.
func (m *Metrics) Failovers() []timeline.Failover {
	d := m.d.Store.Read()
	return timeline.Build(d.Events, d.Fencing, m.contact)
}

func (m *Metrics) contact(node string, verdict time.Time) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.contacts[contactKey{node, verdict.UnixNano()}]
	return t, ok
}

type hclogAdapter struct{ l hclog.Logger }

func (a hclogAdapter) Println(v ...any) { a.l.Warn("metrics", "error", v) }
