package consensus

// CommitIndex is the highest log index known committed (0 before Run).
func (n *Node) CommitIndex() uint64 {
	r, err := n.get()
	if err != nil {
		return 0
	}
	return r.CommitIndex()
}
