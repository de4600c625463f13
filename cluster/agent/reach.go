package agent

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/configs"
)

// hostSilent is the coordinator's reach probe (coordinator/reach.go): a TCP
// connection attempt to node's cluster and heartbeat addresses at once (the
// ports its agent listens on: a host firewall lets them through, where a
// closed port may be dropped silently).
// Only a timeout on both is silence: a power-off answers nothing, while a
// host whose agent is stalled or frozen still completes the handshake in
// its kernel, and refuses or resets when the agent is gone. A local error
// (no route from here, a socket error) is no evidence about the node. The
// answer counts only if this node still holds its lease afterwards (its own
// network may be the one cut); and the verdict it leads to is committed
// through raft before any fence, which a leader cut off from its quorum
// cannot do.
func (a *Agent) hostSilent(ctx context.Context, node string) bool {
	n := a.current().Node(node)
	if n.Address == "" || n.Heartbeat == "" {
		return false
	}
	timeout := reachTimeout(a.cfg.Cluster.Timing)
	label := a.cfg.Cluster.Name
	res := make(chan bool, 2)
	// The cluster port takes a connection closed before its TLS handshake
	// quietly (consensus mux); memberlist's port, one that carries our
	// label header and nothing more (without it, it warns of a label
	// mismatch).
	go func() { res <- timedOut(ctx, n.Address, timeout, nil) }()
	go func() {
		res <- timedOut(ctx, n.Heartbeat, timeout, func(c net.Conn) { _ = memberlist.AddLabelHeaderToStream(c, label) })
	}()
	silent := <-res
	silent = <-res && silent
	lease := a.lease()
	a.log.Debug("reach probe", "node", node, "silent", silent, "lease", lease)
	return silent && lease
}

// reachTimeout: a kernel answers a connection attempt within a round trip,
// well under a millisecond on a LAN, even while its processes are starved
// or frozen; fast 20 ms, lan 150 ms, wan 500 ms.
func reachTimeout(t configs.Timing) time.Duration {
	return max(20*time.Millisecond, t.RaftHeartbeatTimeout/5)
}
