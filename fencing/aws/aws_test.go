package aws

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/fencing"
	"github.com/vigil-ha/vigil/test/ec2sim"
)

// fencerFor builds a fencer running "on" self that fences target, against h.
func fencerFor(t testing.TB, h *ec2sim.Harness, self, target string) *Fencer {
	t.Helper()
	f, err := newFencer(fencing.Device{Name: "f", Target: "node-b", Params: map[string]string{"instance_id": target}},
		awsapi.Options{Region: "us-east-1", EC2Endpoint: h.URL, IMDSEndpoint: h.IMDS[self],
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func actions(h *ec2sim.Harness) []string {
	var out []string
	for _, e := range h.Log() {
		if e.Action == "state" {
			out = append(out, "state:"+e.Params["To"])
		} else {
			out = append(out, e.Action)
		}
	}
	return out
}

func TestOffStopsAndConfirms(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.ForceStopDelay = ec2sim.Duration(300 * time.Millisecond)
	var hooked atomic.Bool
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{OnStopped: func(string) { hooked.Store(true) }})
	f := fencerFor(t, h, "i-a", "i-b")
	ctx := context.Background()
	if p, err := f.Status(ctx); err != nil || p != fencing.PowerOn {
		t.Fatalf("status before: %v %v", p, err)
	}
	if err := f.Off(ctx); err != nil {
		t.Fatal(err)
	}
	if !hooked.Load() || h.InstanceState("i-b") != "stopped" {
		t.Fatal("Off returned before the instance was stopped")
	}
	if p, _ := f.Status(ctx); p != fencing.PowerOff {
		t.Fatalf("status after: %v", p)
	}
	var stop *ec2sim.Event
	for _, e := range h.Log() {
		if e.Action == "StopInstances" {
			stop = &e
		}
	}
	if stop == nil || stop.Params["Force"] != "true" || stop.Params["SkipOsShutdown"] != "true" {
		t.Fatalf("StopInstances not sent with Force+SkipOsShutdown: %+v", stop)
	}
	// Fencing again: already off, succeeds without another StopInstances.
	n := strings.Count(strings.Join(actions(h), " "), "StopInstances")
	if err := f.Off(ctx); err != nil {
		t.Fatal(err)
	}
	if m := strings.Count(strings.Join(actions(h), " "), "StopInstances"); m != n {
		t.Fatal("StopInstances sent for an already stopped instance")
	}
	// action = "reboot": On starts it again.
	if err := f.On(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(actions(h), " "), "StartInstances") {
		t.Fatalf("On sent no StartInstances: %v", actions(h))
	}
	if st := h.InstanceState("i-b"); st != "pending" && st != "running" {
		t.Fatalf("instance %s after On, want pending or running", st)
	}
}

func TestRaceGuardRefusesWhenSelfNotRunning(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	if err := h.SetInstanceState("i-a", "stopping"); err != nil {
		t.Fatal(err)
	}
	f := fencerFor(t, h, "i-a", "i-b")
	err := f.Off(context.Background())
	if !errors.Is(err, ErrSelfNotRunning) {
		t.Fatalf("Off = %v, want ErrSelfNotRunning", err)
	}
	if h.InstanceState("i-b") != "running" || strings.Contains(strings.Join(actions(h), " "), "StopInstances") {
		t.Fatal("fenced despite own instance not running")
	}
}

func TestOffThroughThrottlingAndStaleReads(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.ThrottleEvery = 3
	cfg.Knobs.StaleReads = 3
	cfg.Knobs.ForceStopDelay = ec2sim.Duration(50 * time.Millisecond)
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	f := fencerFor(t, h, "i-a", "i-b")
	f.interval = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Off(ctx); err != nil {
		t.Fatal(err)
	}
	if h.InstanceState("i-b") != "stopped" {
		t.Fatal("not stopped")
	}
	throttled := 0
	for _, e := range h.Log() {
		if e.Result == "RequestLimitExceeded" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("throttling knob never fired; test proves nothing")
	}
}

func TestOffFailsWhenStuck(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.StuckStopping = "always"
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	f := fencerFor(t, h, "i-a", "i-b")
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	err := f.Off(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Off on a stuck instance = %v, want deadline exceeded", err)
	}
	if p, _ := f.Status(context.Background()); p != fencing.PowerUnknown {
		t.Fatalf("stopping reads %v, want unknown", p)
	}
}

// TestNewUsesStandardEnvironment checks the production path: endpoints from
// AWS_ENDPOINT_URL_EC2 / AWS_EC2_METADATA_SERVICE_ENDPOINT, region from IMDS,
// credentials from the default chain (here the IMDS role the simulator serves).
func TestNewUsesStandardEnvironment(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EC2": h.URL, "AWS_EC2_METADATA_SERVICE_ENDPOINT": h.IMDS["i-a"],
		"AWS_CONFIG_FILE": filepath.Join(dir, "c"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "s"),
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
	} {
		t.Setenv(k, v)
	}
	f, err := New(fencing.Device{Name: "f", Params: map[string]string{"instance_id": "i-b"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Off(ctx); err != nil {
		t.Fatal(err)
	}
	if h.InstanceState("i-b") != "stopped" {
		t.Fatal("not stopped")
	}
}

func TestNewNeedsInstanceID(t *testing.T) {
	if _, err := New(fencing.Device{Params: map[string]string{}}); err == nil {
		t.Fatal("accepted a device without instance_id")
	}
}

func TestRaceGuardRefusesWithoutIMDS(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	f := fencerFor(t, h, "i-a", "i-b")
	f.clients.Options.IMDSEndpoint = "http://127.0.0.1:1" // nothing listens
	f.clients.Options.IMDSTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := f.Off(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot read own instance id") {
		t.Fatalf("Off without IMDS = %v", err)
	}
	if h.InstanceState("i-b") != "running" {
		t.Fatal("fenced without a race guard")
	}
	t.Logf("refused after %v", time.Since(start))
}
