package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/rpc"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
)

// fencer binds each node's configured fencing levels to device instances and
// records every attempt in the replicated history.
type fencer struct {
	cfg     *configs.Config
	levels  map[string][]fencing.Level
	applier *rpc.Client
	log     hclog.Logger

	mu     sync.Mutex
	rnd    *rand.Rand
	checks []*deviceCheck // every (device, target) pair; see fencemon.go
	// levels and checks are replaced under mu by a reload (fencereload.go)
	rebuilt chan struct{}
}

func newFencer(cfg *configs.Config, reg fencing.Registry, applier *rpc.Client, log hclog.Logger) (*fencer, error) {
	devs := map[string]configs.Fence{}
	for _, f := range cfg.Fences {
		devs[f.Name] = f
	}
	f := &fencer{cfg: cfg, levels: map[string][]fencing.Level{}, applier: applier, log: log, rebuilt: make(chan struct{}, 1),
		rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))}
	for _, n := range cfg.Nodes {
		for _, lv := range n.Fence {
			var level fencing.Level
			for _, name := range lv.Devices {
				dc := devs[name]
				fd, err := reg.New(dc.Type, fencing.Device{Name: name, Target: n.Name, Params: dc.Params,
					Secrets: dc.Secrets, Logger: log.Named(name)})
				if err != nil {
					return nil, fmt.Errorf("fence device %q for node %q: %w", name, n.Name, err)
				}
				level = append(level, fencing.NamedFencer{Device: name, Fencer: fd, Timeout: dc.Timeout, Retries: dc.Retries,
					Reboot: dc.Action == configs.FenceReboot})
				f.checks = append(f.checks, newDeviceCheck(name, n.Name, fd, dc))
			}
			f.levels[n.Name] = append(f.levels[n.Name], level)
		}
	}
	return f, nil
}

func (f *fencer) any() bool { return len(f.levels) > 0 } // the nodes' fence lists need a restart to change

// Configured reports whether node has fencing devices.
func (f *fencer) Configured(node string) bool { return len(f.levelsOf(node)) > 0 }

// Fence waits the node's fence delay, runs its levels, and commits every
// attempt; it returns the level that fenced the node, for PowerOnAgain.
func (f *fencer) Fence(ctx context.Context, node, reason string) (fencing.Level, error) {
	nc := f.cfg.Node(node)
	f.mu.Lock()
	delay := fencing.Delay(nc.FenceDelay, nc.FenceDelayMax, f.rnd)
	f.mu.Unlock()
	if delay > 0 {
		f.log.Info("waiting fence delay", "target", node, "delay", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
	f.log.Warn("fencing node", "target", node, "reason", reason)
	levels := f.levelsOf(node) // the devices that fence are the ones to power on, whatever a reload does
	attempts, err := fencing.Fence(ctx, levels, f.log)
	for _, at := range attempts {
		rec := state.FenceRecord{Time: time.Now(), Target: node, Device: at.Device, Reason: reason,
			OK: at.Err == nil, Duration: at.Duration}
		if at.Err != nil {
			rec.Error = at.Err.Error()
		}
		// Only the leader fences; it records the result itself (fence records
		// are never accepted from the wire).
		if cerr := f.applier.ApplyLocal(&state.RecordFence{FenceRecord: rec}); cerr != nil {
			f.log.Error("cannot record fencing result", "error", cerr)
		}
	}
	if err != nil {
		return nil, err
	}
	return fencing.FencedBy(levels, attempts), nil
}

// PowerOnAgain turns a fenced node on again when the devices of level (the
// one that fenced it) say reboot; the caller has committed the node's fenced state (its groups
// are released from it). The node boots with no lease and no address, so
// it only rejoins. A failure is logged and recorded; the node stays off,
// as with action = "off".
func (f *fencer) PowerOnAgain(ctx context.Context, node string, level fencing.Level) {
	start := time.Now()
	asked, err := fencing.PowerOnAgain(ctx, level)
	if !asked {
		return
	}
	res := "powered on again (action reboot)"
	if err != nil {
		f.log.Error("cannot power the fenced node on again; it stays off", "target", node, "error", err)
		res = "not powered on again: " + err.Error()
	} else {
		f.log.Info("fenced node powered on again (action reboot)", "target", node, "took", time.Since(start))
	}
	ev := &state.RecordEvent{Time: time.Now(), Kind: "node-power-on", Node: node, Message: res}
	if cerr := f.applier.ApplyLocal(ev); cerr != nil {
		f.log.Error("cannot record the power-on", "error", cerr)
	}
}
