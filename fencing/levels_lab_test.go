package fencing_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/fencing/execfence"
	"github.com/vigil-ha/vigil/fencing/ipmi"
	"github.com/vigil-ha/vigil/test/fencetest"
)

// TestLevelsWithRealDevices: level 1 is an IPMI device with a wrong
// password (a rotated credential), level 2 is fence_ipmilan with the right
// one; the node must end up really off, with the history telling the story.
func TestLevelsWithRealDevices(t *testing.T) {
	bed := fencetest.New(t, "vtfen-lvl", 230)
	bad, err := ipmi.New(fencing.Device{
		Name: "bmc", Target: "victim",
		Params:  map[string]string{"host": bed.BMC.Addr, "username": bed.BMC.User, "ipmitool_path": bed.InMgr("ipmitool")},
		Secrets: map[string][]byte{"password": []byte("rotated-away")},
	})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := execfence.New(fencing.Device{
		Name: "ipmilan", Target: "victim",
		Params: map[string]string{
			"agent":     bed.InMgr("/usr/sbin/fence_ipmilan"),
			"params.ip": bed.BMC.Addr, "params.username": bed.BMC.User,
			"params.lanplus": "1", "params.cipher": bed.BMC.CipherSuite,
		},
		Secrets: map[string][]byte{"password": []byte(bed.BMC.Password)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	attempts, err := fencing.Fence(ctx, []fencing.Level{
		{{Device: "bmc", Fencer: bad, Timeout: 5 * time.Second, Retries: 1}},
		{{Device: "ipmilan", Fencer: agent, Timeout: 20 * time.Second}},
	}, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("Fence: %v (attempts %+v)", err, attempts)
	}
	for _, a := range attempts {
		t.Logf("level %d %s: %v in %v", a.Level, a.Device, a.Err, a.Duration)
	}
	if len(attempts) != 3 || attempts[0].Err == nil || attempts[1].Err == nil || attempts[2].Err != nil {
		t.Fatalf("attempts: %+v", attempts)
	}
	if err := bed.WaitVictimDead(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
