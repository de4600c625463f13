package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/arbitrator"
	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/coordinator"
	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
)

// pair runs the two-node rules (coordinator.DecidePair) on this node of a
// two_node cluster: arm once the pair was seen working (wait_for_all),
// fence a peer lost on both links after the race delay, continue alone once
// the fence is confirmed (consensus.RecoverAlone), commit the verdict, and
// add the peer back when it returns.
type pair struct {
	a    *Agent
	peer string
	addr string // the peer's cluster address
	log  hclog.Logger
	rnd  *rand.Rand
	arb  *arbitrator.Client // nil: no arbitrator configured

	reported time.Time // last report to the arbitrator

	mu      sync.Mutex
	armed   bool
	forced  bool   // wait_for_all = false
	note    string // for status: what the pair waits for or did
	pending *pairVerdict
}

// pairVerdict is a confirmed fence (or clean leave) to commit once this
// node leads alone.
type pairVerdict struct {
	reason   string
	attempts []fencing.Attempt
	fenced   bool
	at       time.Time
}

const pairTick = 100 * time.Millisecond

func newPair(a *Agent) (*pair, error) {
	p := &pair{a: a, log: a.log.Named("two-node"), rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
	if arb := a.cfg.Cluster.Arbitrator; arb.Address != "" {
		c, err := arbitratorClient(arb, a.tls)
		if err != nil {
			return nil, err
		}
		p.arb = c
	}
	for _, n := range a.cfg.Nodes {
		if n.Name != a.cfg.NodeName {
			p.peer, p.addr = n.Name, n.Address
		}
	}
	p.forced = !a.cfg.Cluster.WaitForAll
	p.armed = p.forced
	p.note = "waiting to see " + p.peer + " once before running anything or fencing it (wait_for_all)"
	if p.forced {
		p.note = "wait_for_all = false: started without waiting for " + p.peer + "; it is fenced if it does not appear"
	}
	return p, nil
}

// arbitratorClient uses this node's cluster certificate as its identity
// and trusts only the arbitrator's CA for the server.
func arbitratorClient(arb configs.Arbitrator, cluster *tls.Config) (*arbitrator.Client, error) {
	if cluster == nil {
		return nil, errors.New("arbitrator: needs the cluster's TLS certificate")
	}
	pem, err := os.ReadFile(arb.CAFile)
	if err != nil {
		return nil, fmt.Errorf("arbitrator ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("arbitrator ca_file %s holds no PEM certificate", arb.CAFile)
	}
	// The cluster config may serve a reloadable certificate through
	// GetClientCertificate instead of Certificates (tlsutil.LoadReloadable).
	t := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: cluster.Certificates,
		GetClientCertificate: cluster.GetClientCertificate, RootCAs: pool}
	name := arb.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(arb.Address)
		if err != nil {
			return nil, fmt.Errorf("arbitrator address: %w", err)
		}
		name = host
	}
	return arbitrator.NewClient(arb.Address, name, t), nil
}

func (p *pair) run(ctx context.Context) error {
	if p.forced {
		p.log.Warn("wait_for_all = false: this node may fence its peer and run the groups alone without having seen it", "peer", p.peer)
	}
	return every(ctx, pairTick, func() { p.step(ctx) })
}

func (p *pair) facts() (coordinator.PairFacts, error) {
	a := p.a
	m, err := a.raft.Membership()
	if err != nil {
		return coordinator.PairFacts{}, err
	}
	_, selfVoter := m.Has(a.cfg.NodeName)
	_, peerVoter := m.Has(p.peer)
	f := coordinator.PairFacts{
		Now: time.Now(), SelfVoter: selfVoter, PeerVoter: peerVoter,
		Alone:  selfVoter && len(m.Voters) == 1,
		Leader: a.raft.IsLeader(), LeaderContact: a.raft.LastLeaderContact(),
		Lease: a.cfg.Cluster.Timing.Lease,
	}
	leader, _ := a.raft.Leader()
	f.LeaderIsPeer = leader == p.peer
	f.PeerAnswered = a.raft.PeerContact()[p.peer].InContact()
	for _, mem := range a.mem.Members() {
		if mem.Name == p.peer {
			mem := mem
			f.Peer = &mem
		}
	}
	f.PeerLeaving = p.incarnationLeaving(f.Peer)
	return f, nil
}

// incarnationLeaving: the peer's current incarnation (its start time on the
// heartbeat link) marked itself leaving; a mark from before it started is an
// earlier incarnation's.
func (p *pair) incarnationLeaving(peer *membership.Member) bool {
	n := p.a.fsm.Read().Nodes[p.peer]
	if n == nil || !n.Leaving || peer == nil {
		return false
	}
	if n.LeavingBoot != "" { // the mark names its incarnation: no clocks
		return peer.Meta.Extra[coordinator.BootKey] == n.LeavingBoot
	}
	boot, ok := coordinator.Started(*peer)
	return ok && n.LeavingSince.After(boot)
}

func (p *pair) step(ctx context.Context) {
	f, err := p.facts()
	if err != nil {
		return // raft not running (yet, or being restarted)
	}
	p.report(ctx, f)
	p.mu.Lock()
	if !p.armed && f.Working() {
		p.armed = true
		p.note = ""
		p.log.Info("pair working: this node may now fence its peer if it is lost on both links", "peer", p.peer)
	}
	armed := p.armed
	pending := p.pending
	p.mu.Unlock()
	if pending != nil && f.Leader {
		p.commit(ctx, pending)
	}
	if f.Leader && f.PeerVoter && !f.Alone && p.peerLeaving(f) {
		p.log.Info("peer shutting down cleanly: removing it from the voters so this node keeps a quorum alone", "peer", p.peer)
		if err := p.a.raft.RemovePeer(p.peer, time.Second); err != nil {
			p.log.Warn("cannot remove the leaving peer from the voters", "error", err)
		}
		return
	}
	switch coordinator.DecidePair(f, armed) {
	case coordinator.PairRace:
		p.race(ctx)
	case coordinator.PairLeft:
		p.log.Warn("peer left the cluster cleanly; continuing alone without fencing it", "peer", p.peer)
		p.alone(ctx, &pairVerdict{reason: p.peer + " left the cluster (clean shutdown)", at: time.Now()})
	case coordinator.PairReadd:
		voter, err := p.a.raft.AddPeer(p.peer, p.addr, time.Second)
		switch {
		case err != nil:
			p.log.Debug("cannot add the peer back yet", "peer", p.peer, "error", err)
		case voter:
			p.log.Info("peer is a voter again", "peer", p.peer)
			p.setNote("")
		default:
			p.setNote(p.peer + " is back: rejoining as a non-voter until it has caught up")
		}
	}
}

func (p *pair) setNote(s string) {
	p.mu.Lock()
	p.note = s
	p.mu.Unlock()
}

// race fences the peer after the race delay, unless it shows up again
// meanwhile; on a confirmed fence this node continues alone.
func (p *pair) race(ctx context.Context) {
	a := p.a
	delay := coordinator.RaceDelay(a.cfg, a.fsm.Read(), a.cfg.NodeName, p.peer, p.rnd)
	p.log.Warn("peer lost on the heartbeat and cluster links: fencing it", "peer", p.peer, "delay", delay)
	p.setNote(fmt.Sprintf("%s lost on both links: fencing it (delay %s)", p.peer, delay))
	deadline := time.Now().Add(delay)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(pairTick, time.Until(deadline))):
		}
		f, err := p.facts()
		if err == nil && coordinator.DecidePair(f, true) != coordinator.PairRace {
			p.log.Info("peer back during the fence delay: not fencing it", "peer", p.peer)
			p.setNote("")
			return
		}
	}
	reason := p.peer + " lost on the heartbeat and cluster links (two-node)"
	if p.arb != nil {
		rep, err := p.ask(ctx, arbitrator.StateLost)
		switch {
		case err == nil && rep.Granted:
			p.log.Warn("the arbitrator gave this node the vote", "peer", p.peer)
			p.voted(ctx, reason+"; the arbitrator gave "+a.cfg.NodeName+" the vote")
			return
		case err == nil:
			p.log.Warn("the arbitrator refused the vote: not continuing alone", "peer", p.peer, "owner", rep.Owner, "reason", rep.Reason)
			p.setNote(fmt.Sprintf("%s lost on both links; the arbitrator refused the vote (%s)", p.peer, rep.Reason))
			p.pause(ctx)
			return
		case !a.fence.Configured(p.peer):
			p.log.Error("arbitrator unreachable and no fence device: not continuing alone", "peer", p.peer, "error", err)
			p.setNote(fmt.Sprintf("%s lost on both links and the arbitrator is unreachable: %v", p.peer, err))
			p.pause(ctx)
			return
		}
		p.log.Warn("arbitrator unreachable: falling back to fencing", "error", err)
	}
	start := time.Now()
	attempts, err := fencing.Fence(ctx, a.fence.levelsOf(p.peer), p.log)
	if err != nil {
		p.log.Error("fencing the peer failed; running nothing until it is fenced or back", "peer", p.peer, "error", err)
		p.setNote(fmt.Sprintf("%s lost on both links and fencing it failed: %v", p.peer, err))
		p.pause(ctx)
		return
	}
	p.log.Warn("peer fenced (power off confirmed)", "peer", p.peer, "took", time.Since(start).Round(time.Millisecond))
	p.alone(ctx, &pairVerdict{reason: reason, attempts: attempts, fenced: true, at: time.Now()})
}

func (p *pair) pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// voted continues alone on the arbitrator's vote. The peer is fenced too
// where a device is configured; without one, the peer's lease must run out
// first: it has not heard from a leader since the links went, so one more
// lease from now it runs nothing (and its guard removed its addresses).
func (p *pair) voted(ctx context.Context, reason string) {
	v := &pairVerdict{reason: reason, at: time.Now()}
	if p.a.fence.Configured(p.peer) {
		attempts, err := fencing.Fence(ctx, p.a.fence.levelsOf(p.peer), p.log)
		v.attempts = attempts
		if err == nil {
			v.fenced = true
			p.alone(ctx, v)
			return
		}
		p.log.Warn("fencing after the vote failed; waiting out the peer's lease instead", "error", err)
	}
	wait := time.Now().Add(p.a.cfg.Cluster.Timing.Lease)
	p.setNote(fmt.Sprintf("the arbitrator gave this node the vote: continuing alone once %s's lease ran out", p.peer))
	for time.Now().Before(wait) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(pairTick):
		}
		if f, err := p.facts(); err == nil && coordinator.DecidePair(f, true) != coordinator.PairRace {
			p.log.Info("peer back while waiting out its lease: staying a pair", "peer", p.peer)
			p.setNote("")
			return
		}
	}
	p.alone(ctx, v)
}

// ask sends this node's state to the arbitrator.
func (p *pair) ask(ctx context.Context, st string) (arbitrator.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return p.arb.Ask(ctx, arbitrator.Request{Cluster: p.a.cfg.Cluster.Name, Node: p.a.cfg.NodeName, Peer: p.peer, State: st})
}

// report tells the arbitrator, about once a second, that the pair works
// (which releases a vote either node held) or that this node runs alone
// (so a vote is recorded even after a fence). Failures only log: a healthy
// pair never needs the arbitrator.
func (p *pair) report(ctx context.Context, f coordinator.PairFacts) {
	if p.arb == nil || time.Since(p.reported) < time.Second {
		return
	}
	st := ""
	switch {
	case f.Working():
		st = arbitrator.StatePair
	case f.Alone && f.Leader:
		st = arbitrator.StateAlone
	default:
		return
	}
	p.reported = time.Now()
	rep, err := p.ask(ctx, st)
	switch {
	case err != nil:
		p.log.Debug("cannot reach the arbitrator", "error", err)
	case st == arbitrator.StateAlone && !rep.Granted:
		p.log.Error("the arbitrator says another node holds the vote while this node runs alone", "owner", rep.Owner, "reason", rep.Reason)
	}
}

// alone rewrites the raft configuration to this node only; the verdict is
// committed once this node leads (next steps).
func (p *pair) alone(ctx context.Context, v *pairVerdict) {
	err := p.a.raft.RecoverAlone(ctx)
	if err != nil && !errors.Is(err, consensus.ErrNotAlone) {
		p.log.Error("cannot continue alone", "error", err)
		return
	}
	if err != nil {
		p.log.Warn("not rewriting the raft configuration", "reason", err)
		return
	}
	p.mu.Lock()
	p.pending = v
	p.note = "running alone: " + v.reason
	p.mu.Unlock()
}

// commit records the fence attempts and the peer's state: fenced (its groups
// are released at once) or, after a clean leave, offline.
func (p *pair) commit(ctx context.Context, v *pairVerdict) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for i, at := range v.attempts {
		rec := state.FenceRecord{Time: v.at, Target: p.peer, Device: at.Device, Reason: v.reason,
			OK: at.Err == nil, Duration: at.Duration}
		if at.Err != nil {
			rec.Error = at.Err.Error()
		}
		if err := p.a.applier.Apply(ctx, &state.RecordFence{FenceRecord: rec}); err != nil {
			p.log.Warn("cannot record the fence yet", "error", err)
			v.attempts = v.attempts[i:]
			return
		}
	}
	v.attempts = nil
	st := state.NodeOffline
	if v.fenced {
		st = state.NodeFenced
	}
	// The coordinator's first verdicts as the new leader may have been
	// computed before this commit and overwrite it: commit until the state
	// shows it (from then on the coordinator keeps a fenced node fenced).
	if n := p.a.fsm.Read().Nodes[p.peer]; n == nil || n.Status != st {
		if err := p.a.applier.Apply(ctx, &state.SetNodeStatus{Node: p.peer, Status: st, Reason: v.reason, Time: time.Now()}); err != nil {
			p.log.Warn("cannot commit the peer's state yet", "error", err)
		}
		return
	}
	p.mu.Lock()
	p.pending = nil
	p.mu.Unlock()
}

// peerLeaving: the peer's current incarnation marked itself leaving (clean
// shutdown, agent.drain) and holds no group any more.
func (p *pair) peerLeaving(f coordinator.PairFacts) bool {
	if !f.PeerLeaving || f.Peer.State != membership.StateAlive {
		return false
	}
	for _, g := range p.a.fsm.Read().Groups {
		if g.Holder == p.peer {
			return false
		}
	}
	return true
}

// leaving is the end of a clean shutdown: wait (briefly) until the leader
// removed this node from the voters, so the peer keeps running alone.
func (p *pair) leaving(ctx context.Context) {
	for {
		m, err := p.a.raft.Membership()
		if err != nil {
			return
		}
		if _, voter := m.Has(p.a.cfg.NodeName); !voter || len(m.Voters) == 1 {
			if voter {
				return // alone: nobody to hand the quorum to
			}
			p.log.Info("removed from the voters: the peer continues alone")
			return
		}
		select {
		case <-ctx.Done():
			p.log.Warn("not removed from the voters in time: the peer continues alone once it sees this node gone")
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// force is `vigil node online -force-alone`: the operator says on purpose
// that this node may fence its absent peer and run the groups alone.
func (p *pair) force(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed && !p.forced {
		return fmt.Errorf("this node has seen %s already: nothing to force (it fences %s if it loses it)", p.peer, p.peer)
	}
	p.log.Warn("operator forced this node to start alone (-force-alone): it fences its peer if it does not appear", "peer", p.peer)
	p.forced, p.armed = true, true
	p.note = "forced alone by the operator (-force-alone): " + p.peer + " will be fenced if it does not appear"
	return nil
}

// warning is the pair's line for status, or "".
func (p *pair) warning() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.note == "" {
		return ""
	}
	return "two-node: " + p.note
}
