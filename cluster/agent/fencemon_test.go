package agent

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/fencing"
)

// countingFencer answers Status and counts the calls; Off must never run.
type countingFencer struct {
	calls, offs atomic.Int32
	err         error
}

func (c *countingFencer) Off(context.Context) error { c.offs.Add(1); return nil }
func (c *countingFencer) On(context.Context) error  { return nil }
func (c *countingFencer) Status(context.Context) (fencing.Power, error) {
	c.calls.Add(1)
	if c.err != nil {
		return fencing.PowerUnknown, c.err
	}
	return fencing.PowerOn, nil
}

// The monitor checks the devices of the other nodes at their interval
// (never its own), keeps the last error with every secret blanked, and
// never powers anything off.
func TestFenceMonitorChecksOtherNodesDevices(t *testing.T) {
	devs := map[string]*countingFencer{
		"n1-bmc": {err: errors.New("session refused for password s3cret-pw")},
		"n2-bmc": {},
	}
	reg := fencing.Registry{"fake": func(d fencing.Device) (fencing.Fencer, error) { return devs[d.Name], nil }}
	cfg := &configs.Config{NodeName: "n2",
		Nodes: []configs.Node{
			{Name: "n1", Fence: []configs.FenceLevel{{Devices: []string{"n1-bmc"}}}},
			{Name: "n2", Fence: []configs.FenceLevel{{Devices: []string{"n2-bmc"}}}},
		},
		Fences: []configs.Fence{
			{Type: "fake", Name: "n1-bmc", Timeout: time.Second, MonitorInterval: 100 * time.Millisecond,
				Secrets: map[string][]byte{"password": []byte("s3cret-pw")}},
			{Type: "fake", Name: "n2-bmc", Timeout: time.Second, MonitorInterval: 100 * time.Millisecond},
		}}
	f, err := newFencer(cfg, reg, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 550*time.Millisecond)
	defer cancel()
	if err := f.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	if n := devs["n1-bmc"].calls.Load(); n < 4 || n > 7 {
		t.Errorf("n1-bmc checked %d times in 550 ms at a 100 ms interval", n)
	}
	if n := devs["n2-bmc"].calls.Load(); n != 0 {
		t.Errorf("n2 checked its own device %d times", n)
	}
	st := f.Statuses()
	if len(st) != 1 || st[0].Device != "n1-bmc" || st[0].Target != "n1" || st[0].Node != "n2" || st[0].State != "failing" {
		t.Fatalf("statuses %+v", st)
	}
	if strings.Contains(st[0].Error, "s3cret-pw") || !strings.Contains(st[0].Error, "<redacted>") {
		t.Fatalf("error not redacted: %q", st[0].Error)
	}
	// On demand, own devices too.
	res, err := f.CheckNode(context.Background(), "n2")
	if err != nil || len(res) != 1 || res[0].State != "ok" {
		t.Fatalf("CheckNode(n2) = %+v, %v", res, err)
	}
	if devs["n1-bmc"].offs.Load()+devs["n2-bmc"].offs.Load() != 0 {
		t.Fatal("a check powered something off")
	}
}
