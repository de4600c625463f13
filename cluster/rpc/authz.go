package rpc

import (
	"fmt"

	"github.com/vigil-ha/vigil/cluster/state"
)

// Authorize decides whether the node peer (named by its certificate) may
// have the leader commit c. It is the allow-list of the internal apply
// endpoint:
//
//   - reports about the sender itself: its group reports and resource
//     failures, its own standby (on_fail = standby) and leaving marks;
//   - operator commands a node forwards for its local API socket (standby of
//     any node, ending any node's leaving mark, move/clear pins, cleanup,
//     restart, maintenance): root on a
//     cluster node is an operator of the cluster, as with Pacemaker's crm;
//   - nothing else. Placement and fencing decisions (assign, release, node
//     status, fence records, expiring fail counts, unmanaged marks) and history events are
//     made by the leader itself and never accepted from the wire.
//
// The state machine checks names and sizes on top of this (state/limits.go).
func Authorize(peer string, c state.Command) error {
	refuse := func(why string) error {
		return fmt.Errorf("%T from %s refused: %s", c, peer, why)
	}
	self := func(node string) error {
		if node != peer {
			return refuse(fmt.Sprintf("a node may only report about itself, not about %q", node))
		}
		return nil
	}
	switch c := c.(type) {
	case *state.GroupReport:
		return self(c.Node)
	case *state.ResourceFailed:
		return self(c.Node) // with Count set (on_fail = move) a node bans only itself
	case *state.SetLeaving:
		if !c.Leaving {
			return nil // `vigil node online NODE` ends a shutdown mark that outlived its agent
		}
		return self(c.Node)
	case *state.SetStandby, *state.Pin, *state.Restart, *state.SetMaintenance:
		return nil
	case *state.Cleanup:
		if !c.Before.IsZero() || c.Message != "" {
			return refuse("fail counts expire on the leader only")
		}
		return nil
	case nil:
		return refuse("unknown command type")
	}
	return refuse("decided by the leader only")
}
