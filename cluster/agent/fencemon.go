package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
)

// deviceCheck is one fence device bound to one target, as this node last
// checked it. A device that stopped working (wrong password, BMC
// unreachable) must be found before a fence is needed, not by the fence.
type deviceCheck struct {
	device, target string
	fencer         fencing.Fencer
	interval       time.Duration // 0: checked only on demand
	timeout        time.Duration
	secrets        [][]byte // blanked out of every error we keep

	// guarded by fencer.mu
	state     string // unknown | ok | failing
	err       string
	at, since time.Time
}

func newDeviceCheck(device, target string, f fencing.Fencer, dc configs.Fence) *deviceCheck {
	c := &deviceCheck{device: device, target: target, fencer: f, interval: dc.MonitorInterval,
		timeout: dc.Timeout, state: "unknown"}
	for _, s := range dc.Secrets {
		if len(s) > 0 {
			c.secrets = append(c.secrets, s)
		}
	}
	return c
}

// redact blanks every secret of the device. Device errors are redacted at
// the source already; status must not depend on every agent getting it right.
func (c *deviceCheck) redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, string(sec), "<redacted>")
	}
	return s
}

// monitor checks every device that fences another node, each at its
// monitor_interval, the first time right away. Devices that fence this node
// are left to the others: this node never fences itself.
func (f *fencer) monitor(ctx context.Context) error {
	if len(f.checkList()) == 0 {
		return nil
	}
	next := make(map[*deviceCheck]time.Time)
	for {
		now := time.Now()
		wake := now.Add(time.Hour)
		for _, c := range f.checkList() {
			if c.interval <= 0 || c.target == f.cfg.NodeName {
				continue
			}
			if due, ok := next[c]; !ok || !now.Before(due) {
				f.check(ctx, c)
				if ctx.Err() != nil {
					return nil
				}
				next[c] = time.Now().Add(c.interval)
			}
			if next[c].Before(wake) {
				wake = next[c]
			}
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-f.rebuilt: // a reload replaced the devices: check the new ones now
			t.Stop()
		case <-t.C:
		}
	}
}

// check runs one device check and records the verdict, logging changes only.
func (f *fencer) check(ctx context.Context, c *deviceCheck) {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	err := fencing.Check(cctx, c.fencer)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: not the device's fault
	}
	now := time.Now()
	st, msg := "ok", ""
	if err != nil {
		st, msg = "failing", c.redact(err.Error())
	}
	f.mu.Lock()
	prev := c.state
	if prev != st {
		c.since = now
	}
	c.state, c.err, c.at = st, msg, now
	f.mu.Unlock()
	switch {
	case st == "failing" && prev != "failing":
		f.log.Warn("fence device check failed: this device may not work when a fence is needed",
			"device", c.device, "target", c.target, "error", msg)
	case st == "ok" && prev == "failing":
		f.log.Info("fence device check passes again", "device", c.device, "target", c.target)
	}
}

// CheckNode runs the checks of node's devices now (`vigil fence -check`).
func (f *fencer) CheckNode(ctx context.Context, node string) ([]api.FenceDeviceStatus, error) {
	var out []api.FenceDeviceStatus
	for _, c := range f.checkList() {
		if c.target != node {
			continue
		}
		f.check(ctx, c)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, f.status(c))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("node %s has no fence devices", node)
	}
	return out, nil
}

// Statuses is the latest check of every device this node checks.
func (f *fencer) Statuses() []api.FenceDeviceStatus {
	var out []api.FenceDeviceStatus
	for _, c := range f.checkList() {
		if c.target == f.cfg.NodeName {
			continue
		}
		out = append(out, f.status(c))
	}
	return out
}

func (f *fencer) status(c *deviceCheck) api.FenceDeviceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.FenceDeviceStatus{Node: f.cfg.NodeName, Device: c.device, Target: c.target,
		State: c.state, Error: c.err, At: c.at, Since: c.since}
}
