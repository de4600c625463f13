package guard

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Holds and releases of a whole group of addresses in one exchange: every
// address held is removed when the agent goes, a released one is not, and
// a hold refused (no lease) is reported for that address.
func TestHoldManyAndReleaseMany(t *testing.T) {
	sock, logf, command := guardProcess(t)
	c := NewClient(ClientConfig{Socket: sock, Command: command,
		Lease: func() (time.Time, bool) { return time.Now().Add(time.Second), true }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()

	const n = 150 // more than one batch
	var holds [][3]string
	for i := range n {
		holds = append(holds, [3]string{fmt.Sprintf("g/a%d", i), fmt.Sprintf("addr%d", i), "eth0"})
	}
	for i, err := range c.HoldMany(ctx, holds) {
		if err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
	}
	c.ReleaseMany(ctx, []string{"g/a0", "g/a149"})
	cancel()
	<-done
	b, _ := os.ReadFile(logf)
	for i := range n {
		removed := strings.Contains(string(b), fmt.Sprintf("remove addr%d\n", i))
		if want := i != 0 && i != n-1; removed != want {
			t.Errorf("addr%d removed when the agent left: %v, want %v", i, removed, want)
		}
	}
}

// Without a lease the guard refuses every hold of the batch.
func TestHoldManyWithoutLeaseFails(t *testing.T) {
	sock, _, command := guardProcess(t)
	c := NewClient(ClientConfig{Socket: sock, Command: command,
		Lease: func() (time.Time, bool) { return time.Time{}, false }})
	defer c.shutdown()
	errs := c.HoldMany(context.Background(), [][3]string{{"g/a", "a", "eth0"}, {"g/b", "b", "eth0"}})
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "no lease") {
			t.Errorf("hold %d without a lease: %v, want a refusal", i, err)
		}
	}
}
