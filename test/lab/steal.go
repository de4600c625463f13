package lab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// watchSteal samples the machine's steal time (CPU time the hypervisor gave
// to others while this VM's vCPUs wanted it) every 100 ms until ctx ends or
// the returned summary is read: a frozen vCPU stalls every process on it,
// whatever its priority, so a soak on a VM must say how much there was.
func watchSteal(ctx context.Context) func() string {
	var mu sync.Mutex
	var total, worst, windows, bad int64
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		prev, ok := stealTicks()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for ok {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, ok2 := stealTicks()
			if !ok2 {
				return
			}
			d := cur - prev
			prev = cur
			mu.Lock()
			total += d
			windows++
			worst = max(worst, d)
			if d >= 5 { // half of a 100 ms window or more (ticks are 10 ms, summed over CPUs)
				bad++
			}
			mu.Unlock()
		}
	}()
	return func() string {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%d ms in all (summed over CPUs), at most %d ms in a 100 ms window, %d of %d windows with 50 ms or more",
			total*10, worst*10, bad, windows)
	}
}

// stealTicks is the "steal" column of /proc/stat's cpu line (USER_HZ ticks).
func stealTicks() (int64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	if len(f) < 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[8], 10, 64)
	return n, err == nil
}
