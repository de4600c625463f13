package agent

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/configs"
)

// hostSilent is the coordinator's reach probe (coordinator/reach.go): TCP
// connection attempts to node's cluster and heartbeat addresses (the ports
// its agent listens on: a host firewall lets them through, where a closed
// port may be dropped silently). Only a timeout on both is silence: a
// power-off answers nothing, while a host whose agent is stalled or frozen
// still completes the handshake in its kernel, and refuses or resets when
// the agent is gone. A local error (no route from here, a socket error) is
// no evidence about the node.
//
// One attempt timing out is not enough: a blip of this node's own network,
// or of a switch all the nodes hang off, swallows it just as well, and the
// leader may keep its lease through a blip shorter than raft_leader_lease
// and then commit the verdict once frames pass again (a 400 ms switch
// outage at `lan` got both load balancers fenced: TestSwitchOutage). So
// the probe is bracketed (bracket): a first attempt; then evidence that
// this node's network works after that attempt's deadline (a majority of
// the voters answered a request sent after it); then a second attempt. One
// outage that swallowed both attempts would have had to cover that instant
// too. The verdict counts only if the node did not answer on the cluster
// link meanwhile and this node still holds its lease afterwards; and it is
// committed through raft before any fence, which a leader cut off from its
// quorum cannot do.
func (a *Agent) hostSilent(ctx context.Context, node string) bool {
	n := a.current().Node(node)
	if n.Address == "" || n.Heartbeat == "" {
		return false
	}
	t := a.cfg.Cluster.Timing
	timeout := reachTimeout(t)
	label := a.cfg.Cluster.Name
	attempt := func(ctx context.Context) bool {
		res := make(chan bool, 2)
		// The cluster port takes a connection closed before its TLS
		// handshake quietly (consensus mux); memberlist's port, one that
		// carries our label header and nothing more (without it, it warns
		// of a label mismatch).
		go func() { res <- timedOut(ctx, n.Address, timeout, nil) }()
		go func() {
			res <- timedOut(ctx, n.Heartbeat, timeout, func(c net.Conn) { _ = memberlist.AddLabelHeaderToStream(c, label) })
		}()
		silent := <-res
		return <-res && silent
	}
	// The node's last sign of life on the cluster link, as the coordinator
	// sees it: an answer to raft, or a lease renewal.
	answered := func() time.Time { return a.links()[node].Last }
	others := a.clusterAddrs(node)
	silent := bracket(ctx, probeSteps{
		attempt: attempt, quorumAck: a.raft.QuorumAck, answered: answered,
		others:  func(ctx context.Context) bool { return anyAnswers(ctx, others) },
		timeout: timeout, maxWait: max(timeout, t.RaftHeartbeatTimeout),
	})
	lease := a.lease()
	a.log.Debug("reach probe", "node", node, "silent", silent, "lease", lease)
	return silent && lease
}

// probeSteps are what bracket needs: an attempt on both links (true: no
// answer on either), this leader's quorum acknowledgement
// (consensus.QuorumAck), the node's last answer on the cluster link, and
// a connection attempt to the other nodes' cluster ports (true: one
// answered, with a handshake or a refusal).
type probeSteps struct {
	attempt   func(context.Context) bool
	quorumAck func() time.Time
	answered  func() time.Time
	others    func(context.Context) bool
	timeout   time.Duration // of one attempt
	maxWait   time.Duration // for the evidence between the attempts
}

// bracket reports silence only for two attempts that both timed out with
// evidence between them that this node's network worked: another node
// answered a connection attempt, or a majority a raft request, sent after
// the first attempt's deadline, before the second attempt was sent. A
// single outage that swallowed the first attempt must have begun by its
// deadline, one that swallowed the second must have lasted until it was
// sent: it would have covered that exchange too. The connection attempt
// gives the evidence within a round trip, where raft's next heartbeat may
// be a tenth of a heartbeat timeout away. No evidence within maxWait (this
// node is the one cut off), or an answer from the node since the first
// attempt: no verdict.
func bracket(ctx context.Context, s probeSteps) bool {
	start := time.Now()
	if !s.attempt(ctx) {
		return false
	}
	after := start.Add(s.timeout) // attempt returns no earlier
	wctx, cancel := context.WithTimeout(ctx, s.maxWait)
	defer cancel()
	reached := make(chan bool, 1)
	go func() { reached <- s.others(wctx) }()
	poll := time.NewTicker(max(s.timeout/8, time.Millisecond))
	defer poll.Stop()
	for !s.quorumAck().After(after) {
		var ok bool
		select {
		case <-wctx.Done():
			return false
		case ok = <-reached:
			reached = nil // asked once; without an answer raft's may still come
		case <-poll.C:
		}
		if ok {
			break
		}
	}
	if s.answered().After(start) {
		return false
	}
	return s.attempt(ctx) && !s.answered().After(start)
}

// anyAnswers reports whether one of addrs answers a TCP connection attempt
// (a handshake, or a refusal: either came back over the network) before ctx
// ends. The cluster port takes a connection closed before its TLS handshake
// quietly.
func anyAnswers(ctx context.Context, addrs []string) bool {
	res := dialEach(ctx, addrs)
	for range addrs {
		if <-res {
			return true
		}
	}
	return false
}

// dialEach makes a TCP connection attempt to each of addrs at once until
// ctx ends, closes what connects, and reports for each whether it answered
// (a handshake, or a refusal: either came back over the network). The
// channel holds every report, so none blocks when nobody reads.
func dialEach(ctx context.Context, addrs []string) <-chan bool {
	res := make(chan bool, len(addrs))
	for _, addr := range addrs {
		go func() {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			res <- err == nil || errors.Is(err, syscall.ECONNREFUSED)
		}()
	}
	return res
}

// clusterAddrs is every other node's cluster address but skip's.
func (a *Agent) clusterAddrs(skip string) []string {
	var out []string
	for _, n := range a.current().Nodes {
		if n.Name != skip && n.Name != a.cfg.NodeName && n.Address != "" {
			out = append(out, n.Address)
		}
	}
	return out
}

// reachTimeout: a kernel answers a connection attempt within a round trip,
// well under a millisecond on a LAN, even while its processes are starved
// or frozen; fast 20 ms, lan 150 ms, wan 500 ms.
func reachTimeout(t configs.Timing) time.Duration {
	return max(20*time.Millisecond, t.RaftHeartbeatTimeout/5)
}
