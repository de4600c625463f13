package agent

import (
	"context"
	"time"
)

// On the cluster link only the leader talks to each follower: two followers
// (the witness and the load balancer that does not lead) may never exchange
// a frame there, so their hosts have no neighbour (ARP/NDP) entry for each
// other. When one of them is elected right after a network outage, its
// first connections to the other queue behind an address resolution begun
// in the outage, which the kernel retries only once a second: in one CI
// run a witness elected after a 0.7 s switch outage could not reach the
// load balancer holding the VIP for more than a lease (300 ms at fast) and
// fenced it, alive on the heartbeat link and doing nothing wrong
// (TestSwitchOutage). So each agent connects to every other node's cluster
// port when it starts and every neighbourEvery after (a connection closed
// before its TLS handshake, which the port takes quietly): the entries stay
// resolved, and a connection made in or after an outage uses them at once.
// The heartbeat link needs nothing: memberlist probes every member there.

// neighbourEvery keeps an entry from being collected: the kernel drops
// entries unused for a minute once its table is large (gc_stale_time).
const neighbourEvery = 30 * time.Second

// warmNeighbours touches every other node's cluster address now and every
// neighbourEvery until ctx ends.
func (a *Agent) warmNeighbours(ctx context.Context) error {
	touch := func() { touchAll(ctx, a.clusterAddrs(""), reachTimeout(a.cfg.Cluster.Timing)) }
	touch()
	return every(ctx, neighbourEvery, touch)
}

// touchAll makes a TCP connection attempt to each of addrs at once and
// closes what connects; only the address resolution it causes matters.
func touchAll(ctx context.Context, addrs []string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := dialEach(ctx, addrs)
	for range addrs {
		<-res
	}
}
