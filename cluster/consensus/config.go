package consensus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/configs"
)

// Peer is one voter: its node name and the host:port of its cluster link.
type Peer struct {
	ID      string
	Address string
}

// Config is what a Node needs. Only NodeID, FSM and either BindAddr or
// Transport are required.
type Config struct {
	NodeID   string
	BindAddr string // host:port to listen on and advertise; never a wildcard address
	DataDir  string // raft state lives in DataDir/raft
	InMem    bool   // in-memory stores (dev mode and tests); DataDir unused
	TLS      *tls.Config
	Peers    []Peer         // voters (witnesses included), bootstrapped on first start only
	Timing   configs.Timing // zero raft fields take the lan preset's values
	FSM      raft.FSM
	// ScratchFSM makes an empty FSM for RecoverAlone (and an Offline
	// recovery) to replay the log into (replaying into FSM would apply
	// entries twice). Nil: both refuse.
	ScratchFSM func() raft.FSM
	Logger     hclog.Logger
	// Transport replaces the TCP cluster port (tests pass a raft
	// InmemTransport): BindAddr and TLS are then unused and RPCListener is nil.
	Transport raft.Transport
}

const (
	snapshotThreshold = 1024
	trailingLogs      = 1024
	snapshotsRetained = 2
	maxPool           = 3
	// boltLockTimeout bounds the wait for the raft.db file lock held by
	// another process (bbolt waits forever by default).
	boltLockTimeout = 2 * time.Second
	// handshakeTimeout bounds the TLS handshake plus the protocol byte of
	// an inbound connection, so a silent client cannot hold a goroutine.
	minHandshakeTimeout = time.Second
)

func (c *Config) validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("NodeID is empty"))
	}
	if c.FSM == nil {
		errs = append(errs, errors.New("FSM is nil"))
	}
	if !c.InMem && c.DataDir == "" {
		errs = append(errs, errors.New("DataDir is empty (set InMem for an in-memory node)"))
	}
	self := c.BindAddr
	if c.Transport != nil {
		self = string(c.Transport.LocalAddr())
	} else if err := checkBindAddr(c.BindAddr); err != nil {
		errs = append(errs, err)
	}
	ids := map[string]bool{}
	addrs := map[string]bool{}
	foundSelf := len(c.Peers) == 0
	for _, p := range c.Peers {
		switch {
		case p.ID == "" || p.Address == "":
			errs = append(errs, fmt.Errorf("peer %q has an empty ID or address", p.ID+"@"+p.Address))
		case ids[p.ID]:
			errs = append(errs, fmt.Errorf("peer %q listed twice", p.ID))
		case addrs[p.Address]:
			errs = append(errs, fmt.Errorf("address %s is used by two peers", p.Address))
		}
		ids[p.ID], addrs[p.Address] = true, true
		if p.ID == c.NodeID {
			foundSelf = true
			if p.Address != self {
				errs = append(errs, fmt.Errorf("peer entry for this node (%s) has address %s but this node listens on %s",
					p.ID, p.Address, self))
			}
		}
	}
	if !foundSelf {
		errs = append(errs, fmt.Errorf("this node %q is not in Peers", c.NodeID))
	}
	if len(errs) > 0 {
		return fmt.Errorf("consensus config: %w", errors.Join(errs...))
	}
	return nil
}

// checkBindAddr refuses addresses that cannot be advertised to peers.
func checkBindAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("BindAddr %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("BindAddr %q: port must be 1-65535", addr)
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("BindAddr %q: peers dial this address, so it must be a concrete IP or host name, not a wildcard", addr)
	}
	return nil
}

// timing fills zero raft durations from the lan preset.
func (c *Config) timing() configs.Timing {
	t := c.Timing
	lan, _ := configs.TimingPreset("lan")
	fill := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	fill(&t.RaftHeartbeatTimeout, lan.RaftHeartbeatTimeout)
	fill(&t.RaftElectionTimeout, lan.RaftElectionTimeout)
	fill(&t.RaftLeaderLease, lan.RaftLeaderLease)
	fill(&t.RaftCommitTimeout, lan.RaftCommitTimeout)
	fill(&t.RaftTransportTimeout, lan.RaftTransportTimeout)
	return t
}

func (c *Config) raftConfig(notify chan<- bool) (*raft.Config, error) {
	t := c.timing()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = t.RaftHeartbeatTimeout
	rc.ElectionTimeout = t.RaftElectionTimeout
	// raft steps a leader down a heartbeat timeout after a majority last
	// answered, not raft_leader_lease after: vigil's leader lease
	// (QuorumAck + raft_leader_lease) ends its right to run resources
	// whatever raft does, and a later step-down only makes its vote for
	// another later. A leader that regains its followers in between (a
	// switch outage of 0.4 s at lan) keeps leading and gets its lease back
	// a round trip later; stepped down, it waited out an election (the
	// VIP gone 1.3-1.5 s, TestSwitchOutage).
	rc.LeaderLeaseTimeout = t.RaftHeartbeatTimeout
	rc.CommitTimeout = t.RaftCommitTimeout
	rc.SnapshotThreshold = snapshotThreshold
	rc.TrailingLogs = trailingLogs
	rc.NotifyCh = notify
	rc.Logger = quieter(c.Logger.Named("raft"))
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("consensus config: raft timing: %w", err)
	}
	// The leader lease ends before any other leader can be elected only
	// while it is at most a heartbeat timeout (DESIGN.md, Leases).
	if t.RaftLeaderLease > t.RaftHeartbeatTimeout {
		return nil, fmt.Errorf("consensus config: raft timing: leader lease (%s) cannot be larger than heartbeat timeout (%s)",
			t.RaftLeaderLease, t.RaftHeartbeatTimeout)
	}
	return rc, nil
}

func (c *Config) handshakeTimeout() time.Duration {
	return max(c.timing().RaftTransportTimeout, minHandshakeTimeout)
}

// quietLogger logs every message one level lower than raft asked for:
// raft reports routine elections at info and every missed heartbeat to an
// absent peer at error, which would drown the coordinator's own account of
// the same events.
type quietLogger struct{ hclog.Logger }

func quieter(l hclog.Logger) hclog.Logger { return quietLogger{l} }

func demote(l hclog.Level) hclog.Level {
	if l <= hclog.Trace {
		return hclog.Off
	}
	if l > hclog.Error {
		return l
	}
	return l - 1
}

func (q quietLogger) Log(l hclog.Level, msg string, args ...any) {
	if d := demote(l); d != hclog.Off {
		if d > hclog.Debug && shutdownNoise(args) {
			d = hclog.Debug
		}
		if d > hclog.Info && msg == "peer has newer term, stopping replication" {
			d = hclog.Info // a deposed leader learning of its successor (a leadership transfer on a clean stop)
		}
		q.Logger.Log(d, msg, args...)
	}
}
func (q quietLogger) Trace(string, ...any)             {}
func (q quietLogger) Debug(msg string, args ...any)    { q.Logger.Trace(msg, args...) }
func (q quietLogger) Info(msg string, args ...any)     { q.Logger.Debug(msg, args...) }
func (q quietLogger) Warn(msg string, args ...any)     { q.Log(hclog.Warn, msg, args...) }
func (q quietLogger) Error(msg string, args ...any)    { q.Log(hclog.Error, msg, args...) }
func (q quietLogger) IsTrace() bool                    { return false }
func (q quietLogger) IsDebug() bool                    { return q.Logger.IsTrace() }
func (q quietLogger) IsInfo() bool                     { return q.Logger.IsDebug() }
func (q quietLogger) IsWarn() bool                     { return q.Logger.IsInfo() }
func (q quietLogger) IsError() bool                    { return q.Logger.IsWarn() }
func (q quietLogger) With(args ...any) hclog.Logger    { return quietLogger{q.Logger.With(args...)} }
func (q quietLogger) Named(name string) hclog.Logger   { return quietLogger{q.Logger.Named(name)} }
func (q quietLogger) ResetNamed(n string) hclog.Logger { return quietLogger{q.Logger.ResetNamed(n)} }
