package configs

import "time"

// DefaultPriorityFenceDelay is cluster.priority_fence_delay's default: long
// enough for an IPMI power-off (a few round trips to the BMC and a status
// read) to finish before the other side's fence starts, so that in a fence
// race the node holding the groups fences first.
const DefaultPriorityFenceDelay = 5 * time.Second

// validateTwoNode checks a two_node cluster: with two voters neither side
// can outvote the other, so a node may only continue alone after it has
// powered its peer off. Both nodes therefore need a fence device.
func validateTwoNode(r *reporter, c *Config) {
	for _, n := range c.Nodes {
		if n.Witness {
			r.errf("node."+n.Name+".witness", "two_node = true has no witness: remove the witness or two_node")
			continue
		}
		if len(n.Fence) == 0 {
			r.errf("node."+n.Name, "two_node = true needs a fence device for every node (fence = [\"...\"]): "+
				"the survivor of a lost peer continues alone only after its fence device confirmed the peer is off; "+
				"without one, add a witness node and drop two_node")
		}
	}
	if c.Cluster.PriorityFenceDelay < 0 {
		r.errf("cluster.priority_fence_delay", "must not be negative")
	}
}
