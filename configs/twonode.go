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
		if len(n.Fence) == 0 && c.Cluster.Arbitrator.Address == "" {
			r.errf("node."+n.Name, "two_node = true needs a fence device for every node (fence = [\"...\"]) "+
				"or an arbitrator (cluster { arbitrator { ... } }): the survivor of a lost peer continues alone only "+
				"after its peer was fenced or the arbitrator gave it the vote; or add a witness node and drop two_node")
		}
	}
	if a := c.Cluster.Arbitrator; a.Address != "" {
		if msg := checkHostPort(a.Address); msg != "" {
			r.errf("cluster.arbitrator.address", "%s", msg)
		}
		if a.CAFile == "" {
			r.errf("cluster.arbitrator", "ca_file is required: the CA that signed the arbitrator's certificate")
		}
		if c.Cluster.TLS.Empty() {
			r.errf("cluster.arbitrator", "needs cluster { tls { ... } }: the node's certificate is its identity to the arbitrator")
		}
	}
	if c.Cluster.PriorityFenceDelay < 0 {
		r.errf("cluster.priority_fence_delay", "must not be negative")
	}
	if !c.Cluster.WaitForAll {
		// A peer powered on again would start alone, not see the survivor
		// (whatever cut them apart still does) and fence it: a fence loop.
		for _, f := range c.Fences {
			if f.Action == FenceReboot {
				r.errf("fence."+f.Name+".action", "reboot with two_node = true needs wait_for_all = true: "+
					"a peer powered on again would start alone and fence the survivor (a fence loop)")
			}
		}
	}
}
