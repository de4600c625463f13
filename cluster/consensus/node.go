package consensus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

var (
	// ErrNotLeader is returned by writes and leader checks on a node that is
	// not the leader; callers forward to Leader() instead.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrNotRunning is returned before Run has started raft and after it stopped.
	ErrNotRunning = errors.New("raft is not running")
)

// Node is one raft member: stores, cluster port and raft itself.
type Node struct {
	cfg   Config
	log   hclog.Logger
	names *nameBook
	rpc   *chanListener // nil when Config.Transport replaces the cluster port
	errs  *peerErrors

	ready    chan struct{}
	started  atomic.Bool
	raft     atomic.Pointer[raft.Raft]
	leaderCh chan bool
	contact  peerContact
	answers  answers // per peer: last AppendEntries answer (for PeerContact)
	// downAt (unix nanos) is when this node last stopped being leader. raft
	// stamps its last-contact time at step-down, which would look like fresh
	// contact with a leader; LastLeaderContact ignores contact up to here.
	downAt atomic.Int64
	// transferAt (unix nanos) is when this node last started a leadership
	// transfer (TransferStarted).
	transferAt atomic.Int64
	// takeover is the last takeover request this node received
	// (TakeoverRequested).
	takeover atomic.Pointer[takeover]
	// alone carries RecoverAlone requests to Run (two_node; twonode.go).
	alone chan chan error
	cmds  *commands // the FSM raft applies to (readindex.go)
	logs  atomic.Pointer[raft.LogStore]
	// writes: whether the raft stores can be written (storehealth.go).
	writes writeHealth
}

// New validates cfg. It opens nothing and starts nothing; Run does.
func New(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.raftConfig(nil); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger,
		names:    newNameBook(cfg.Peers),
		errs:     newPeerErrors(),
		ready:    make(chan struct{}),
		leaderCh: make(chan bool),
		alone:    make(chan chan error),
		cmds:     &commands{FSM: cfg.FSM},
	}
	if cfg.Transport == nil {
		n.rpc = newChanListener(advertiseAddr(cfg.BindAddr))
	}
	return n, nil
}

// Run opens the stores, listens on the cluster port, bootstraps the
// configured voters if this node has no raft state yet, and runs raft until
// ctx is done. It then shuts raft down and closes the stores. A restart with
// the same data dir rejoins with the stored state and never bootstraps again.
func (n *Node) Run(ctx context.Context) (err error) {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("consensus: Run called twice")
	}
	st, err := openStores(&n.cfg, n.log, &n.writes)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.close(); cerr != nil && err == nil {
			err = fmt.Errorf("close raft log store: %w", cerr)
		}
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	if n.rpc != nil {
		// Nobody may accept RPC conns once Run is over, whatever happened;
		// closing it also frees mux goroutines waiting to hand one over.
		defer n.rpc.Close()
	}
	trans := n.cfg.Transport
	if trans == nil {
		var ln net.Listener
		if trans, ln, err = n.listen(&wg); err != nil {
			return err
		}
		defer ln.Close()
	}
	// raft.Shutdown closes a transport that can be closed; RecoverAlone
	// shuts raft down and starts it again on the same transport, so raft
	// gets one it cannot close and Run closes it at the end.
	outer := trans
	defer closeTransport(outer)
	wait := &peerWait{wanted: n.replicatingTo, max: n.cfg.timing().RaftHeartbeatTimeout / 2}
	hedge := hedgeEvery(n.cfg.timing().RaftLeaderLease)
	trans, forward, closeGate := withAnswers(held(trans), &n.answers, n.noteTakeover, wait, hedge)

	notify := make(chan bool, 64)
	rc, err := n.cfg.raftConfig(notify)
	if err != nil {
		return err
	}
	if err := n.bootstrap(rc, st, trans); err != nil {
		return err
	}
	n.logs.Store(&st.logs)
	r, err := raft.NewRaft(rc, n.cmds, st.logs, st.stable, st.snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	obsCh := make(chan raft.Observation, 256)
	obs := raft.NewObserver(obsCh, false, wantObservation)
	r.RegisterObserver(obs)

	loopCtx, stopLoops := context.WithCancel(context.Background())
	wg.Add(3)
	go func() { defer wg.Done(); n.pumpLeaderChanges(loopCtx, notify) }()
	go func() { defer wg.Done(); n.observe(loopCtx, obsCh, obs) }()
	go func() { defer wg.Done(); forward(loopCtx) }()

	n.raft.Store(r)
	close(n.ready)
	n.log.Info("raft started", "id", n.cfg.NodeID, "addr", trans.LocalAddr())

	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case reply := <-n.alone:
			r = n.restartAlone(r, obs, rc, st, trans, reply)
		}
	}
	// Raft does not persist its commit index: after a restart the state is
	// the last snapshot until a leader says what is committed. A snapshot on
	// the way out makes it what this node knew when it stopped (maintenance
	// included), for a restart with no leader in reach.
	// (Raft refuses while a configuration change is not applied yet, and
	// logs that as an error: a clean stop then goes without.)
	if f := r.GetConfiguration(); f.Error() == nil && f.Index() <= r.AppliedIndex() {
		if err := r.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			n.log.Info("no snapshot taken on the way out", "error", err)
		}
	}
	r.DeregisterObserver(obs)
	serr := r.Shutdown().Error()
	closeGate()
	stopLoops()
	if serr != nil {
		return fmt.Errorf("raft shutdown: %w", serr)
	}
	return nil
}

// listen opens the cluster port and starts its mux on wg.
func (n *Node) listen(wg *sync.WaitGroup) (raft.Transport, net.Listener, error) {
	ln, err := net.Listen("tcp", n.cfg.BindAddr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("cluster port %s is already in use (another vigil agent or service?): %w", n.cfg.BindAddr, err)
		}
		return nil, nil, fmt.Errorf("listen on cluster port %s: %w", n.cfg.BindAddr, err)
	}
	addr := advertiseAddr(n.cfg.BindAddr)
	m := &mux{
		ln:      ln,
		raft:    newChanListener(addr),
		rpc:     n.rpc,
		timeout: n.cfg.handshakeTimeout(),
		log:     n.log.Named("cluster-port"),
		names:   n.names,
		errs:    n.errs,
		limit:   newConnLimiter(n.names),
	}
	if n.cfg.TLS != nil {
		m.tls = tlsutil.AcceptNodes(n.cfg.TLS, n.names.has)
	}
	wg.Add(1)
	go func() { defer wg.Done(); m.serve(wg) }()
	if n.cfg.TLS == nil {
		n.log.Warn("cluster port has no TLS: raft and API forwarding travel in clear text (dev mode only)")
	}
	stream := &streamLayer{chanListener: m.raft, tls: n.cfg.TLS, names: n.names, errs: n.errs}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: maxPool,
		Timeout: n.cfg.timing().RaftTransportTimeout,
		Logger:  quieter(n.log.Named("raft-net")),
	})
	return trans, ln, nil
}

func closeTransport(t raft.Transport) {
	if c, ok := t.(raft.WithClose); ok {
		_ = c.Close()
	}
}

// bootstrap writes the configured voter set, only when there is no state.
func (n *Node) bootstrap(rc *raft.Config, st *stores, trans raft.Transport) error {
	has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	if has {
		n.log.Info("rejoining with existing raft state")
		return nil
	}
	var conf raft.Configuration
	for _, p := range n.cfg.Peers {
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address),
		})
	}
	if len(conf.Servers) == 0 {
		conf.Servers = []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr()}}
	}
	n.log.Info("bootstrapping raft with the configured voters", "voters", len(conf.Servers))
	if err := raft.BootstrapCluster(rc, st.logs, st.stable, st.snaps, trans, conf); err != nil {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	return nil
}

// Ready is closed once raft is running. It stays open if Run fails early,
// so wait on it together with Run's result.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// RPCListener yields the cluster port's RPC connections (protocol 0x02),
// for the API package's forwarding server. It is nil when Config.Transport
// replaced the cluster port. Accept fails once Run has returned.
func (n *Node) RPCListener() net.Listener {
	if n.rpc == nil {
		return nil
	}
	return n.rpc
}

// PeerErrors returns the last TLS or identity error seen with each peer
// (keyed by node name, or by remote address when no node matches), on
// either side of a connection. A successful handshake clears a peer's entry.
func (n *Node) PeerErrors() map[string]PeerError { return n.errs.snapshot() }

// DialRPC opens an RPC connection to the node serverName at addr, like the
// package's DialRPC, and records TLS errors for PeerErrors.
func (n *Node) DialRPC(ctx context.Context, addr, serverName string) (net.Conn, error) {
	return dialRecord(ctx, addr, serverName, n.cfg.TLS, protoRPC, n.errs)
}

func (n *Node) get() (*raft.Raft, error) {
	if r := n.raft.Load(); r != nil {
		return r, nil
	}
	return nil, ErrNotRunning
}

// leaderErr turns raft's leadership errors into ErrNotLeader.
func (n *Node) leaderErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		_, addr := n.Leader()
		return fmt.Errorf("%w (leader: %q)", ErrNotLeader, addr)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return err
}

// Apply commits cmd through raft and returns the FSM's response (which may
// itself be an error value the FSM returned for a refused command). On a
// follower it fails fast with ErrNotLeader. raft.ErrLeadershipLost means the
// entry may or may not commit; callers must not assume either.
func (n *Node) Apply(cmd []byte, timeout time.Duration) (any, error) {
	r, err := n.get()
	if err != nil {
		return nil, err
	}
	switch r.State() {
	case raft.Leader:
	case raft.Shutdown:
		return nil, ErrNotRunning
	default:
		return nil, n.leaderErr(raft.ErrNotLeader)
	}
	f := r.Apply(cmd, timeout)
	if err := await(f, timeout); err != nil {
		return nil, n.leaderErr(err)
	}
	// Followers learn that the entry committed from the next AppendEntries,
	// which raft would send only after up to two commit timeouts when
	// nothing else is appended. A barrier entry goes out at once and
	// carries the new commit index: a follower told to start a group does
	// so a round trip after the commit, and the commit timeout can stay
	// long enough not to cost CPU at idle. Nobody waits for it.
	_ = r.Barrier(timeout)
	return f.Response(), nil
}

// PushCommit, on the leader, sends every follower the commit index now: a
// barrier entry nobody waits for. A follower back from a restart has the
// entries but learns that they committed only from the next append, which
// an idle leader sends once per commit timeout (1-2 s); the RPC server
// pushes when a follower asks for a read index, which it does before it
// acts on its state.
func (n *Node) PushCommit() {
	r, err := n.get()
	if err != nil || r.State() != raft.Leader {
		return
	}
	r.Barrier(applyPushTimeout)
}

// applyPushTimeout bounds how long a pushed barrier may wait to be enqueued.
const applyPushTimeout = time.Second

// Barrier waits until every committed entry is applied to the local FSM;
// a new leader calls it before acting on its state.
func (n *Node) Barrier(timeout time.Duration) error {
	r, err := n.get()
	if err != nil {
		return err
	}
	return n.leaderErr(await(r.Barrier(timeout), timeout))
}

// VerifyLeader confirms with a quorum that this node is still the leader.
func (n *Node) VerifyLeader() error {
	r, err := n.get()
	if err != nil {
		return err
	}
	return n.leaderErr(r.VerifyLeader().Error())
}

// IsLeader reports whether this node believes it is the leader.
func (n *Node) IsLeader() bool {
	r, err := n.get()
	return err == nil && r.State() == raft.Leader
}

// Leader returns the current leader's node name and cluster address, or
// empty strings when there is none known.
func (n *Node) Leader() (id, addr string) {
	r, err := n.get()
	if err != nil {
		return "", ""
	}
	a, i := r.LeaderWithID()
	return string(i), string(a)
}

// LeaderChanges delivers every leadership transition of this node (true:
// became leader, false: lost it), in order. There is one channel per Node;
// transitions queue in memory until read, so raft never blocks on it.
func (n *Node) LeaderChanges() <-chan bool { return n.leaderCh }

// LastLeaderContact is when this node last heard from the leader (now, while
// it is the leader itself); zero if never.
func (n *Node) LastLeaderContact() time.Time {
	r, err := n.get()
	if err != nil {
		return time.Time{}
	}
	if r.State() == raft.Leader {
		return time.Now()
	}
	c := r.LastContact()
	if d := n.downAt.Load(); d != 0 && !c.After(time.Unix(0, d)) {
		return time.Time{}
	}
	return c
}

// Servers returns the current raft configuration.
func (n *Node) Servers() ([]Peer, error) {
	r, err := n.get()
	if err != nil {
		return nil, err
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.leaderErr(err)
	}
	var out []Peer
	for _, s := range f.Configuration().Servers {
		out = append(out, Peer{ID: string(s.ID), Address: string(s.Address)})
	}
	return out, nil
}

// State is raft's state name: Follower, Candidate, Leader or Shutdown
// ("NotStarted" before Run).
func (n *Node) State() string {
	r, err := n.get()
	if err != nil {
		return "NotStarted"
	}
	return r.State().String()
}

// Term is the current raft term (0 before Run).
func (n *Node) Term() uint64 {
	r, err := n.get()
	if err != nil {
		return 0
	}
	return r.CurrentTerm()
}

// Stats is raft's own statistics map (for status output).
func (n *Node) Stats() map[string]string {
	r, err := n.get()
	if err != nil {
		return map[string]string{"state": "NotStarted"}
	}
	return r.Stats()
}
