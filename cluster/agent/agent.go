// Package agent wires one vigil node together: replicated state, raft on the
// cluster link, memberlist on the heartbeat link, health checks, the leader's
// coordinator, the local executor and the API. Its own decisions are few: the
// node's lease, the clean-shutdown drain and the rejoin announcement.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/alerts"
	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/coordinator"
	"github.com/vigil-ha/vigil/cluster/executor"
	"github.com/vigil-ha/vigil/cluster/guard"
	"github.com/vigil-ha/vigil/cluster/keyring"
	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/reload"
	"github.com/vigil-ha/vigil/cluster/rpc"
	"github.com/vigil-ha/vigil/cluster/sdnotify"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/telemetry"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/health"
	"github.com/vigil-ha/vigil/resources"
)

// Deps are what cmd/vigil hands the agent.
type Deps struct {
	Config    *configs.Config
	Logger    hclog.Logger
	Resources resources.Registry
	Fencers   fencing.Registry
	Checks    health.Registry
	Version   string
	// Notify talks to systemd (Type=notify); the zero value does nothing.
	Notify sdnotify.Notifier
	// Net replaces the real network, for the in-memory multi-node harness.
	Net *TestNet
	// Load re-reads and validates the configuration for Reload; nil: no reload.
	Load func() (*configs.Config, error)
}

// TestNet carries in-memory transports for tests. Production leaves it nil.
type TestNet struct {
	Raft   raft.Transport
	Gossip memberlist.NodeAwareTransport
	RPC    net.Listener // this node's end of forwarded API requests
	Dial   rpc.DialFunc // reaches other nodes' RPC listeners
	// Identify names the node at the other end of an RPC connection (the
	// in-memory network has no certificates).
	Identify func(net.Conn) (string, bool)
}

// Agent is one running node.
type Agent struct {
	d   Deps
	cfg *configs.Config
	log hclog.Logger

	fsm     *state.FSM
	raft    *consensus.Node
	mem     *membership.Membership
	health  *checkSet // one health.Runner per check (checkset.go)
	exec    *executor.Executor
	coord   *coordinator.Coordinator
	fence   *fencer
	pair    *pair // two_node only
	api     *api.Server
	rpcSrv  *rpc.Server
	applier *rpc.Client
	tls     *tls.Config
	tel     *telemetry.Metrics
	alerts  *alerts.Dispatcher
	// prevLeader (string) is the last leader known, for telemetry's detect phase.
	prevLeader atomic.Value

	hurry     chan struct{} // closed by Hurry: the operator's second signal
	hurryOnce sync.Once
	warnings  []string // from Preflight, logged at start
	keeper    *leaseKeeper
	guard     *guard.Client // crash guard; nil on nodes with no addresses

	healthMu sync.Mutex
	healthy  map[string]bool   // group ("" node-wide) -> healthy here, for gossip
	failing  map[string]string // group -> failing check names
	standby  bool              // our replicated standby flag, for gossip

	boot time.Time // this incarnation's start, gossiped (coordinator.BootKey)
	// draining: this incarnation began handing its groups over (drain.go),
	// so a leaving mark in the state is its own.
	draining atomic.Bool
	renew    renewals      // lease renewals by round trip with the leader (renew.go)
	ring     *keyring.Ring // gossip keyring (keyring.go); nil in dev mode

	reloadMu sync.Mutex                      // one Reload at a time (reload.go); guards logLevel
	logLevel string                          // level set by the last Reload ("": the configured one)
	pending  atomic.Pointer[[]reload.Change] // reloaded changes waiting for a restart
	cfgHash  atomic.Value                    // string: reload.Hash of the running configuration
	live     atomic.Pointer[configs.Config]  // the configuration in force after a reload (reconfig.go)
	certs    *tlsutil.Reloadable             // node certificate, re-read by Reload (tlsreload.go)
}

// New builds every component (validating agents, checks and fence devices)
// without starting anything.
func New(d Deps) (*Agent, error) {
	cfg := d.Config
	a := &Agent{d: d, cfg: cfg, log: d.Logger, healthy: map[string]bool{}, boot: time.Now(), hurry: make(chan struct{})}
	a.cfgHash.Store(reload.Hash(cfg))
	w, err := Preflight(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	a.warnings = w
	if !cfg.Cluster.TLS.Empty() {
		t, certs, err := tlsutil.LoadReloadable(cfg.Cluster.TLS.CAFile, cfg.Cluster.TLS.CertFile, cfg.Cluster.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster tls: %w", err)
		}
		a.certs = certs
		// Long-lived clients reuse connections; a reconnect resumes the TLS
		// session instead of a full handshake.
		t.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		a.tls = t
	}
	a.fsm = state.NewFSMFor(a.log.Named("state"), knownNames(cfg))

	var peers []consensus.Peer
	var hbPeers []string
	for _, n := range cfg.Nodes {
		peers = append(peers, consensus.Peer{ID: n.Name, Address: n.Address})
		if n.Name != cfg.NodeName {
			hbPeers = append(hbPeers, n.Heartbeat)
		}
	}
	rc := consensus.Config{
		NodeID: cfg.NodeName, BindAddr: cfg.Cluster.Bind, DataDir: cfg.DataDir, InMem: cfg.Dev,
		TLS: a.tls, Peers: peers, Timing: cfg.Cluster.Timing, FSM: a.fsm, Logger: a.log,
	}
	mc := membership.Config{
		Name: cfg.NodeName, BindAddr: cfg.Cluster.Heartbeat, Peers: hbPeers, Key: cfg.Cluster.GossipKey,
		Label: cfg.Cluster.Name, Timing: cfg.Cluster.Timing, Meta: a.meta, Logger: a.log.Named("memberlist"),
	}
	if cfg.Cluster.TwoNode {
		rc.ScratchFSM = state.ScratchFSM
	}
	if d.Net != nil {
		rc.Transport, rc.InMem, mc.Transport = d.Net.Raft, true, d.Net.Gossip
	}
	if err := a.openKeyring(&mc); err != nil {
		return nil, err
	}
	if a.raft, err = consensus.New(rc); err != nil {
		return nil, err
	}
	if a.mem, err = membership.New(mc); err != nil {
		return nil, err
	}
	a.newTelemetry()
	timed := committed{a.raft, a.tel}
	if a.health, err = a.newHealth(); err != nil {
		return nil, err
	}
	applier := rpc.NewClient(timed, a.dialRPC)
	a.applier = applier
	if a.fence, err = newFencer(cfg, d.Fencers, applier, a.log.Named("fencing")); err != nil {
		return nil, err
	}
	a.keeper = newLeaseKeeper(leaseSource{a.raft, &a.renew}, cfg.Cluster.Timing, a.sync, a.log.Named("lease"))
	ed := executor.Deps{
		Config: cfg, Store: a.fsm, Lease: a.lease, LeaseEnd: a.keeper.End, Sync: a.sync, Report: applier.Apply,
		Agents: a.tel.Resources(d.Resources), RunDir: filepath.Join(cfg.DataDir, "run"), Logger: a.log.Named("executor"),
	}
	if d.Net == nil && GuardedLifetime(cfg) > 0 {
		a.guard = a.newGuard()
		ed.Guard = a.guard
		a.keeper.earlier = a.guard.Nudge
	}
	a.exec, err = executor.New(ed)
	if err != nil {
		return nil, err
	}
	cd := coordinator.Deps{
		Config: cfg, Raft: timed, Links: a.links, Members: a.mem.Members, MemberChanges: a.mem.Changes(),
		LinkChanges: a.raft.LinkChanges(),
		Store:       a.fsm, Logger: a.log.Named("coordinator"),
	}
	if a.fence.any() {
		cd.Fencer = nodeFencer{a}
		if d.Net == nil && !cfg.Cluster.TwoNode {
			// Not in a two-node pair, whose fence race has rules of its
			// own (twonode.go), nor over the in-memory test network.
			cd.Reach = a.hostSilent
		}
	}
	a.coord = coordinator.New(cd)
	if cfg.Cluster.TwoNode {
		if a.pair, err = newPair(a); err != nil {
			return nil, err
		}
	}
	ad := api.Deps{Config: cfg, Store: a.fsm, Raft: a.raft, Applier: applier,
		View: a.view, PeerWarnings: a.peerWarnings, Members: a.members, Local: a.local, Logger: a.log.Named("api")}
	if a.fence.any() {
		ad.Fence = a.fenceByOperator
		ad.FenceCheck = a.fence.CheckNode
	}
	ad.ConfirmDown = a.confirmDown
	if a.pair != nil {
		ad.ForceAlone = a.pair.force
	}
	a.api = api.NewServer(ad)
	rd := rpc.ServerDeps{Raft: a.raft, Client: applier, Local: func() any { return a.local() },
		Operator: a.api.Handler(), Renewed: a.renewed, PushCommit: a.raft.PushCommit, Logger: a.log.Named("rpc")}
	if d.Net != nil {
		rd.Identify = d.Net.Identify
	}
	a.rpcSrv = rpc.NewServer(rd)
	a.registerRoutes()
	a.registerKeyring()
	a.registerReload()
	a.registerCertMetric()
	a.registerVoters()
	return a, nil
}

func (a *Agent) newHealth() (*checkSet, error) {
	s := newCheckSet()
	items, err := s.prepare(checksOf(a.cfg), a.newCheck)
	if err != nil {
		return nil, err
	}
	s.replace(items)
	return s, nil
}

// newCheck builds the runner of one check.
func (a *Agent) newCheck(c configs.Check) (*health.Runner, error) {
	chk, err := a.d.Checks.New(c.Type, health.Spec{Name: c.Name, Params: c.Params, Logger: a.log.Named("check." + c.Name)})
	if err != nil {
		return nil, err
	}
	chk = a.tel.Check(c.Group, c.Name, chk)
	return health.NewRunner(health.RunnerConfig{Logger: a.log.Named("health"), Checks: []health.Named{{
		Name: c.Name, Group: c.Group, Check: chk, Interval: c.Interval, Timeout: c.Timeout, Rise: c.Rise, Fall: c.Fall}}})
}

// Run runs every component until ctx ends or one of them fails.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(a.cfg.DataDir, "run"), 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	for _, w := range a.warnings {
		a.log.Warn(w)
	}
	// Components run under their own context so that a clean shutdown can
	// first hand the groups over (drain) while everything still works.
	outer := ctx
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	run("raft", a.raft.Run)
	run("memberlist", a.mem.Run)
	run("lease", a.keeper.Run)
	if a.guard != nil {
		// The guard outlives the other components: the executor releases
		// its addresses on the way out, then the guard is let go.
		gctx, gcancel := context.WithCancel(context.Background())
		gdone := make(chan struct{})
		go func() { _ = a.guard.Run(gctx); close(gdone) }()
		defer func() { gcancel(); <-gdone }()
	}
	select {
	case <-a.raft.Ready():
	case err := <-errs:
		cancel()
		wg.Wait()
		return err
	case <-outer.Done():
		cancel()
		wg.Wait()
		return nil
	}
	run("announce", a.announce)
	if a.d.Net == nil { // not over the in-memory test network
		run("neighbours", a.warmNeighbours)
	}
	run("lease-renewal", a.renewLease)
	run("health", a.health.Run)
	run("gossip-meta", a.gossipMeta)
	execErr := make(chan error, 1) // its shutdown error names what is left running
	wg.Add(1)
	go func() {
		defer wg.Done()
		execErr <- a.exec.Run(ctx)
	}()
	run("fence-monitor", a.fence.monitor)
	run("recovery-note", a.recordRecovery)
	run("coordinator", a.coord.Run)
	if a.pair != nil {
		run("two-node", a.pair.run)
	}
	run("api", func(ctx context.Context) error { return a.api.ServeUnix(ctx, a.socket()) })
	run("rpc", func(ctx context.Context) error { return a.rpcSrv.Serve(ctx, a.rpcListener()) })
	if addr := a.cfg.Cluster.API.Address; addr != "" && a.tls != nil {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("api address: %w", err)
		}
		run("api-tls", func(ctx context.Context) error { return a.api.ServeTLS(ctx, l, a.tls) })
	}
	if err := a.runObservers(run); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	a.log.Info("vigil agent running", "node", a.cfg.NodeName, "cluster", a.cfg.Cluster.Name,
		"bind", a.cfg.Cluster.Bind, "heartbeat", a.cfg.Cluster.Heartbeat, "api", a.socket(), "timing", a.cfg.Cluster.Timing.Preset)

	var err error
	select {
	case err = <-errs:
		a.log.Error("component failed; shutting down", "error", err)
	case <-outer.Done():
		a.log.Info("shutting down: handing groups over (signal again to only remove the addresses and exit)")
		a.sdNotify("STOPPING=1")
		a.drain()
	}
	cancel()
	wg.Wait()
	if eerr := <-execErr; eerr != nil {
		a.log.Error("exiting with resources still running", "error", eerr)
		err = errors.Join(err, eerr)
	}
	return err
}

// Hurry cuts a shutdown short (the operator's second signal): the drain
// stops waiting, and the executor removes the addresses and stops nothing
// else.
func (a *Agent) Hurry() {
	a.hurryOnce.Do(func() {
		a.log.Warn("second signal: removing addresses and exiting now")
		close(a.hurry)
	})
	a.exec.Hurry()
}

// announce runs once the agent has joined: it clears a leaving mark from an
// earlier clean shutdown, so the node is eligible again, and commits the
// config's `maintenance = true`. It first catches up with the leader (read
// index): before that the local state may predate the mark. It retries until
// a leader takes the writes. The leader also clears the mark on its own when
// it sees this incarnation (coordinator.BootKey).
func (a *Agent) announce(ctx context.Context) error {
	for {
		if a.announceOnce(ctx) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *Agent) announceOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.sync(ctx); err != nil {
		return err
	}
	data := a.fsm.Read()
	if a.coord.StartupMaintenancePending() {
		if !data.Maintenance {
			if err := a.applier.Apply(ctx, &state.SetMaintenance{On: true, Time: time.Now()}); err != nil {
				return err
			}
		}
		a.coord.StartupMaintenanceDone()
	}
	if clearLeaving(data.Nodes[a.cfg.NodeName], a.bootKey(), a.draining.Load()) {
		return a.applier.Apply(ctx, &state.SetLeaving{Node: a.cfg.NodeName, Leaving: false, Time: time.Now()})
	}
	return nil
}

// clearLeaving: the node's leaving mark is an earlier incarnation's, to be
// cleared at start: it names another start time than boot (this
// incarnation's; an earlier version's mark names none), and this incarnation
// has not begun a drain of its own (a shutdown that began while announce was
// retrying keeps its mark). Not by comparing the mark's time with this
// start's: both are the node's wall clock, which may run behind after a
// reboot (a drifting RTC, NTP not yet synchronised), and a mark that looked
// newer than the start stayed, and the node ineligible for any group, for
// good.
func clearLeaving(n *state.Node, boot string, draining bool) bool {
	return n != nil && n.Leaving && !draining && n.LeavingBoot != boot
}

// bootKey is this incarnation's start as gossiped (coordinator.BootKey).
func (a *Agent) bootKey() string { return strconv.FormatInt(a.boot.UnixNano(), 10) }

func (a *Agent) socket() string {
	if a.cfg.Cluster.API.Socket != "" {
		return a.cfg.Cluster.API.Socket
	}
	return filepath.Join(a.cfg.DataDir, "vigil.sock")
}

// lease: the leader holds it while it is leader (raft's own leader lease makes
// an isolated leader step down); a follower holds it while it heard from the
// leader within Timing.Lease and the leader answered its renewal within it
// (renew.go); neither trusts a renewal read after a stall of this agent
// (leaseKeeper).
func (a *Agent) lease() bool { return a.keeper.Holds() }

// nodeFencer is the coordinator's view of fencing.
type nodeFencer struct{ a *Agent }

func (f nodeFencer) Configured(node string) bool { return f.a.fence.Configured(node) }
func (f nodeFencer) Fence(ctx context.Context, node, reason string) error {
	return f.a.fenceNode(ctx, node, reason, true)
}

// fenceByOperator is `vigil fence NODE`: the node stays off whatever its
// devices' action ("power a node off, on purpose").
func (a *Agent) fenceByOperator(ctx context.Context, node, reason string) error {
	return a.fenceNode(ctx, node, reason, false)
}

// fenceNode fences node (operator request or coordinator) and commits the
// verdict: groups it held can then be released. Only the leader fences, and
// it commits the verdict itself: node status is never taken from the wire.
// With reboot, devices whose action is reboot then power it on again.
func (a *Agent) fenceNode(ctx context.Context, node, reason string, reboot bool) error {
	level, err := a.fence.Fence(ctx, node, reason)
	if err != nil {
		return err
	}
	boot := ""
	for _, m := range a.mem.Members() {
		if m.Name == node {
			boot = m.Meta.Extra[coordinator.BootKey]
		}
	}
	if err := a.applier.ApplyLocal(&state.SetNodeStatus{Node: node, Status: state.NodeFenced, Reason: reason,
		Time: time.Now(), Boot: boot}); err != nil {
		return err
	}
	if reboot {
		a.fence.PowerOnAgain(ctx, node, level)
	}
	return nil
}

// confirmDown records node as fenced on an operator's word that it is
// powered off (Pacemaker's `stonith_admin --confirm`): the way out for a
// group whose holder is gone for good where no device can fence it (left in
// maintenance, say). Any sign of life refuses it: the node answering this
// leader on the cluster link, or alive on the heartbeat link.
func (a *Agent) confirmDown(ctx context.Context, node string) error {
	if a.raft.PeerContact()[node].InContact() {
		return fmt.Errorf("%s answers on the cluster link: it is not powered off", node)
	}
	boot := ""
	for _, m := range a.mem.Members() {
		if m.Name != node {
			continue
		}
		if m.State == membership.StateAlive || m.State == membership.StateSuspect {
			return fmt.Errorf("%s is %s on the heartbeat link: it is not powered off", node, m.State)
		}
		boot = m.Meta.Extra[coordinator.BootKey]
	}
	const why = "confirmed powered off by an operator (vigil fence -confirm)"
	rec := state.FenceRecord{Time: time.Now(), Target: node, Device: "operator", Reason: why, OK: true}
	if err := a.applier.ApplyLocal(&state.RecordFence{FenceRecord: rec}); err != nil {
		return err
	}
	a.log.Warn("node recorded as fenced on an operator's confirmation", "node", node)
	return a.applier.ApplyLocal(&state.SetNodeStatus{Node: node, Status: state.NodeFenced, Reason: why,
		Time: time.Now(), Boot: boot})
}

// sync waits until the local state has applied the leader's read index.
//
// The leader pushes its commit index when asked for a read index (rpc's
// PushCommit); a follower back from a restart learns from that push which
// of its entries committed. The push may go down the leader's pipeline
// connection from before the restart, whose failure raft sees only then,
// and raft retries only at its next commit timeout (1-2 s idle). So a
// follower that has not caught up after syncRetry asks again: that push
// finds the broken pipeline replaced.
func (a *Agent) sync(ctx context.Context) error {
	for {
		idx, err := a.applier.ReadIndex(ctx)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, syncRetry)
		err = a.raft.WaitApplied(wctx, idx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
}

// syncRetry: how long a sync waits for its read index before asking the
// leader again (a round trip and the apply take a few milliseconds).
const syncRetry = 100 * time.Millisecond

func (a *Agent) links() map[string]coordinator.Link {
	out := map[string]coordinator.Link{}
	for id, l := range a.raft.PeerContact() {
		cl := coordinator.Link{OK: l.OK, Answered: l.Answered, Since: l.Since, Last: l.LastAnswer,
			Renewed: a.renew.lastReceived(id)}
		if cl.Renewed.After(cl.Last) {
			cl.Last = cl.Renewed
		}
		if !cl.OK && cl.Last.After(cl.Since) {
			cl.Since = cl.Last
		}
		out[id] = cl
	}
	return out
}

func (a *Agent) dialRPC(ctx context.Context, addr, serverName string) (net.Conn, error) {
	if a.d.Net != nil {
		return a.d.Net.Dial(ctx, addr, serverName)
	}
	return a.raft.DialRPC(ctx, addr, serverName)
}

func (a *Agent) rpcListener() net.Listener {
	if a.d.Net != nil {
		return a.d.Net.RPC
	}
	return a.raft.RPCListener()
}

func (a *Agent) meta() membership.Meta {
	role := "node"
	if a.cfg.Local().Witness {
		role = "witness"
	}
	a.healthMu.Lock()
	h := make(map[string]bool, len(a.healthy))
	for k, v := range a.healthy {
		h[k] = v
	}
	extra := map[string]string{}
	for g, names := range a.failing {
		if len(names) > 60 {
			names = names[:60] // metadata is capped at 512 bytes
		}
		extra[coordinator.FailingPrefix+g] = names
	}
	standby := a.standby
	a.healthMu.Unlock()
	extra[coordinator.BootKey] = a.bootKey()
	if a.guard != nil {
		extra[coordinator.GuardKey] = coordinator.GuardParamsFor(a.cfg.Cluster.Timing).String()
	}
	a.reloadMeta(extra)
	a.certMeta(extra)
	a.storeMeta(extra)
	return membership.Meta{Role: role, Version: a.d.Version, Standby: standby, Health: h, Extra: extra}
}

// gossipMeta publishes check verdicts and our standby flag in our memberlist
// metadata, where the leader's coordinator reads them within a gossip round.
func (a *Agent) gossipMeta(ctx context.Context) error {
	storeFailing, storeLook := false, (<-chan time.Time)(nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.health.Changes():
			a.gossipHealth()
		case <-a.raft.StoreChanges():
			storeFailing, storeLook = a.storeCheck(storeFailing)
		case <-storeLook:
			was := storeFailing
			if storeFailing, storeLook = a.storeCheck(storeFailing); storeFailing == was {
				continue
			}
		case <-a.fsm.Watch():
			n := a.fsm.Read().Nodes[a.cfg.NodeName]
			standby := n != nil && n.Standby
			a.healthMu.Lock()
			same := a.standby == standby
			a.standby = standby
			a.healthMu.Unlock()
			if same {
				continue
			}
		}
		if err := a.mem.UpdateMeta(time.Second); err != nil && !errors.Is(err, membership.ErrNotRunning) {
			a.log.Warn("cannot gossip node metadata", "error", err)
		}
	}
}

// gossipHealth folds the checks into per-group verdicts for the metadata.
func (a *Agent) gossipHealth() {
	h := map[string]bool{}
	failing := map[string]string{}
	for _, s := range a.health.Snapshot() {
		if s.State == "unknown" {
			continue
		}
		ok, seen := h[s.Group]
		h[s.Group] = (ok || !seen) && s.State == "healthy"
		if s.State != "healthy" {
			if failing[s.Group] != "" {
				failing[s.Group] += ","
			}
			failing[s.Group] += s.Name
		}
	}
	a.healthMu.Lock()
	a.healthy, a.failing = h, failing
	a.healthMu.Unlock()
}

// Warnings are the start-up checks' warnings (see Preflight).
func (a *Agent) Warnings() []string { return a.warnings }

// knownNames lists the configured nodes, groups and resources for the state
// machine, which refuses any other name.
func knownNames(cfg *configs.Config) state.Known {
	k := state.Known{Groups: map[string][]string{}}
	for _, n := range cfg.Nodes {
		k.Nodes = append(k.Nodes, n.Name)
	}
	for _, g := range cfg.Groups {
		var rs []string
		for _, r := range g.Resources {
			rs = append(rs, r.Name)
		}
		k.Groups[g.Name] = rs
	}
	return k
}
