package agent

import (
	"context"
	"time"
)

// every runs f every d until ctx ends (the agent's periodic loops).
func every(ctx context.Context, d time.Duration, f func()) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f()
	}
}
