package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/vigil-ha/vigil/cluster/alerts"
	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/statuspage"
	"github.com/vigil-ha/vigil/cluster/telemetry"
)

// newTelemetry builds the metrics; it must exist before the executor and
// the health checks, whose operations it times.
func (a *Agent) newTelemetry() {
	a.tel = telemetry.New(telemetry.Deps{
		Store: a.fsm, View: a.view, IsLeader: a.raft.IsLeader, LeaseRemaining: a.leaseRemaining,
		Contacts: a.contacts, Logger: a.log.Named("telemetry"),
		// The leader's contacts are exact (answers and renewals), a
		// follower's last contact with its leader too: a note per half
		// heartbeat timeout falls before the next leader reaches it
		// (lan: 375 ms, not 100 ms, of an idle node's wake-ups).
		SampleEvery: max(100*time.Millisecond, a.cfg.Cluster.Timing.RaftHeartbeatTimeout/2),
	})
	a.alerts = alerts.New(alerts.Deps{
		Alerts: a.cfg.Alerts, Store: a.fsm, IsLeader: a.raft.IsLeader, Term: a.raft.Term,
		LastLeaderContact: a.raft.LastLeaderContact, Cluster: a.cfg.Cluster.Name, Node: a.cfg.NodeName,
		Recorder: a.tel, Logger: a.log.Named("alerts"),
	})
}

// committed is consensus with its commits timed for the metrics.
type committed struct {
	*consensus.Node
	tel *telemetry.Metrics
}

func (c committed) Apply(cmd []byte, timeout time.Duration) (any, error) {
	start := time.Now()
	resp, err := c.Node.Apply(cmd, timeout)
	if err == nil {
		c.tel.ObserveCommit(time.Since(start))
	}
	return resp, err
}

// registerRoutes adds /metrics, the status page and leader transfer to the
// API (unix socket and TLS listener).
func (a *Agent) registerRoutes() {
	a.api.Handle("GET /metrics", a.tel.Handler())
	statuspage.Register(a.apiMux(), a.pageDeps(), false)
	a.api.RegisterLeaderTransfer()
}

// apiMux adapts the API server to statuspage.Register.
func (a *Agent) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	a.api.Handle("/ui/", mux)
	return mux
}

func (a *Agent) pageDeps() statuspage.Deps {
	return statuspage.Deps{Status: a.api.ReadOnly(), Failovers: a.tel.Failovers}
}

// runObservers starts metrics, alert hooks, the telemetry listener and the
// systemd notifications beside the other components.
func (a *Agent) runObservers(run func(string, func(context.Context) error)) error {
	run("telemetry", a.tel.Follow)
	run("alerts", a.alerts.Run)
	run("systemd", a.systemd)
	addr := a.cfg.Telemetry.Listen
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.tel.Handler())
	statuspage.Register(mux, a.pageDeps(), true)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	run("telemetry-http", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.log.Info("serving metrics and the status page", "address", "http://"+l.Addr().String()+"/ui/")
	return nil
}

// systemd tells systemd (Type=notify) when the node has joined the cluster
// (in contact with a quorum), keeps STATUS= current, and pings the watchdog
// while the agent's state machine and consensus still answer: a wedged
// agent stops pinging and systemd restarts it.
func (a *Agent) systemd(ctx context.Context) error {
	n := a.d.Notify
	if !n.Enabled() {
		return nil
	}
	every := time.Second
	if n.Watchdog > 0 {
		every = min(every, n.Watchdog)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	ready, status := false, ""
	for {
		if !ready && a.lease() {
			ready = true
			a.sdNotify("READY=1")
		}
		if s := a.statusLine(); s != status {
			status = s
			a.sdNotify("STATUS=" + s)
		}
		if n.Watchdog > 0 && a.alive() {
			a.sdNotify("WATCHDOG=1")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// alive is the watchdog's question: do the state machine and consensus
// still answer? (A deadlocked FSM blocks Read; a dead raft says Shutdown.)
func (a *Agent) alive() bool {
	_ = a.fsm.Read()
	return a.raft.State() != "Shutdown"
}

func (a *Agent) statusLine() string {
	if !a.lease() {
		return "waiting for a quorum of voters"
	}
	leader, _ := a.raft.Leader()
	held := 0
	for _, g := range a.fsm.Read().Groups {
		if g.Holder == a.cfg.NodeName {
			held++
		}
	}
	return fmt.Sprintf("leader %s; %s held here", leader, plural(held, "group"))
}

func (a *Agent) sdNotify(state string) {
	if err := a.d.Notify.Notify(state); err != nil {
		a.log.Debug("sd_notify", "state", state, "error", err)
	}
}

// plural says "1 group", "2 groups".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (a *Agent) leaseRemaining() time.Duration {
	if a.raft.IsLeader() {
		return a.cfg.Cluster.Timing.Lease
	}
	last := a.raft.LastLeaderContact()
	if last.IsZero() {
		return 0
	}
	return a.cfg.Cluster.Timing.Lease - time.Since(last)
}

// contacts is when this node last heard from each other node on the cluster
// link: the leader knows every voter (the last answer or renewal; a link
// that merely has not failed yet is no evidence), a follower only the
// leader.
func (a *Agent) contacts() map[string]time.Time {
	out := map[string]time.Time{}
	if a.raft.IsLeader() {
		// When each peer last answered this leader or renewed with it:
		// exact, however seldom telemetry looks (zero: not yet).
		for id, l := range a.links() {
			out[id] = l.Last
		}
		return out
	}
	// Through an election, keep watching the leader that was lost.
	id, _ := a.raft.Leader()
	if id != "" {
		a.prevLeader.Store(id)
	} else if v, ok := a.prevLeader.Load().(string); ok {
		id = v
	}
	if id != "" {
		out[id] = a.raft.LastLeaderContact()
	}
	return out
}

// groupWarnings names the groups that run nowhere although nothing asked for
// that (no maintenance): `vigil status` says so, not only -check.
func groupWarnings(st api.Status) []string {
	var out []string
	for _, g := range st.Groups {
		if g.Maintenance || st.Maintenance {
			continue
		}
		switch g.State {
		case state.GroupStopped, state.GroupFailed, state.GroupBlocked:
			w := "group " + g.Name + " runs nowhere (" + g.State + ")"
			if g.Reason != "" {
				w += ": " + g.Reason
			}
			out = append(out, w)
		}
	}
	return out
}
