package consensus

// CommitIndex is the highest log index known committed (0 before Run).
func (n *Node) CommitIndex() uint64 {
	r, err := n.get()
	if err != nil {
		return 0
	}
	return r.CommitIndex()
}

// AppliedIndex is the highest log index applied to the FSM, no-ops included.
func (n *Node) AppliedIndex() uint64 {
	r, err := n.get()
	if err != nil {
		return 0
	}
	return r.AppliedIndex()
}
