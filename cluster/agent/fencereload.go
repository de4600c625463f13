package agent

import "github.com/vigil-ha/vigil/fencing"

// levelsOf is node's fencing levels as last (re)built.
func (f *fencer) levelsOf(node string) []fencing.Level {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.levels[node]
}

// checkList is every device check as last (re)built.
func (f *fencer) checkList() []*deviceCheck {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks
}

// replace switches to the devices of n, built from a reloaded
// configuration: the next fence and the fence monitor use them (a fence in
// progress finishes with the devices it started with).
func (f *fencer) replace(n *fencer) {
	f.mu.Lock()
	f.levels, f.checks = n.levels, n.checks
	f.mu.Unlock()
	select {
	case f.rebuilt <- struct{}{}:
	default:
	}
}
