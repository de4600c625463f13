package aws

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/fencing"
	fenceaws "github.com/vigil-ha/vigil/fencing/aws"
	"github.com/vigil-ha/vigil/resources"
	"github.com/vigil-ha/vigil/test/ec2sim"
)

// TestFenceThenTakeOver is the EC2 failover order as the coordinator runs it:
// B fences A (confirmed stopped, hook run), then takes the Elastic IP. The
// simulator's event log shows the stop completed before the association.
func TestFenceThenTakeOver(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.ForceStopDelay = ec2sim.Duration(100 * time.Millisecond)
	cfg.Knobs.Latency = ec2sim.Duration(5 * time.Millisecond)
	cfg.Hooks.OnStopped = "true" // exec hook path (sh -c) runs too
	var powered []string
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{OnStopped: func(id string) { powered = append(powered, "off "+id) }})

	// Production path: standard env and the default credential chain, which
	// finds the simulator's IMDS role.
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/c")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/s")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL_EC2", h.URL)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", h.IMDS["i-b"])
	f, err := fenceaws.New(fencing.Device{Name: "a-ec2", Target: "a", Params: map[string]string{"instance_id": "i-a", "region": "us-east-1"}})
	must(t, err)
	must(t, f.Off(ctxT(t)))

	_, b := eipPair(t, h)
	must(t, b.Start(ctxT(t)))
	wantState(t, b, resources.Running)

	stopped, assoc := -1, -1
	for i, e := range h.Log() {
		switch {
		case e.Action == "state" && e.Params["InstanceId"] == "i-a" && e.Params["To"] == "stopped":
			stopped = i
			if e.Result != "ok" {
				t.Fatalf("exec hook: %s", e.Result)
			}
		case e.Action == "AssociateAddress" && e.Result == "ok":
			assoc = i
		}
	}
	if stopped < 0 || assoc < 0 || stopped > assoc {
		t.Fatalf("log order wrong: stopped at %d, associate at %d", stopped, assoc)
	}
	if len(powered) != 1 || powered[0] != "off i-a" {
		t.Fatalf("stop hook calls %v", powered)
	}
}
