package placement

// Ineligible says why node cannot run group now ("" if it can), by the same
// rules Plan uses. The API uses it to refuse an operator's move that placement
// would never carry out, instead of accepting a pin that silently does nothing.
// Health facts the caller does not have (the zero Facts) count as healthy.
func Ineligible(in Input, group, node string) string {
	for _, gc := range in.Config.Groups {
		if gc.Name != group {
			continue
		}
		for _, n := range in.Config.Nodes {
			if n.Name != node {
				continue
			}
			g := in.Data.Groups[group]
			if g == nil {
				g = emptyGroup(group)
			}
			return ineligible(in, gc, g, n)
		}
		return "is not a node of this cluster"
	}
	return "cannot run an unknown group"
}
