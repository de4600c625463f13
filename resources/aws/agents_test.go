package aws

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/resources"
	"github.com/vigil-ha/vigil/test/ec2sim"
)

func opts(h *ec2sim.Harness, instance string) awsapi.Options {
	return awsapi.Options{Region: "us-east-1", EC2Endpoint: h.URL, IMDSEndpoint: h.IMDS[instance],
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), MaxBackoff: 5 * time.Millisecond}
}

func spec(params map[string]string) resources.Spec {
	return resources.Spec{Group: "g", Name: "r", Params: params}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantState(t *testing.T, a resources.Agent, want resources.State) {
	t.Helper()
	got, err := a.Monitor(ctxT(t))
	if got != want {
		t.Fatalf("monitor = %v (%v), want %v", got, err, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eipPair(t *testing.T, h *ec2sim.Harness) (a, b *EIP) {
	var err error
	a, err = newEIP(spec(map[string]string{"allocation_id": "eipalloc-1"}), opts(h, "i-a"))
	must(t, err)
	b, err = newEIP(spec(map[string]string{"allocation_id": "eipalloc-1"}), opts(h, "i-b"))
	must(t, err)
	a.interval, b.interval = 10*time.Millisecond, 10*time.Millisecond
	return a, b
}

func TestEIPMovesFromAToB(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	a, b := eipPair(t, h)
	wantState(t, a, resources.Running)
	wantState(t, b, resources.Stopped)
	must(t, b.Start(ctxT(t)))
	wantState(t, b, resources.Running)
	wantState(t, a, resources.Stopped) // A lost it without being asked
	must(t, a.Stop(ctxT(t)))           // not ours: must not undo B's association
	if h.AddressENI("eipalloc-1") != "eni-b" {
		t.Fatal("A's Stop removed B's association")
	}
	must(t, b.Start(ctxT(t))) // idempotent
	must(t, b.Stop(ctxT(t)))
	must(t, b.Stop(ctxT(t)))
	wantState(t, b, resources.Stopped)
	if h.AddressENI("eipalloc-1") != "" {
		t.Fatal("still associated after Stop")
	}
}

func TestEIPThroughThrottlingAndStaleReads(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.ThrottleEvery = 3
	cfg.Knobs.StaleReads = 3
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	_, b := eipPair(t, h)
	must(t, b.Start(ctxT(t)))
	wantState(t, b, resources.Running)
	throttled := 0
	for _, e := range h.Log() {
		if e.Result == "RequestLimitExceeded" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no call was throttled; the knob did not fire")
	}
}

func TestEBSMovesWithForceDetach(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.AttachDelay = ec2sim.Duration(30 * time.Millisecond)
	cfg.Knobs.DetachDelay = ec2sim.Duration(30 * time.Millisecond)
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	p := map[string]string{"volume_id": "vol-1", "device": "/dev/sdf"}
	a, err := newEBS(spec(p), opts(h, "i-a"))
	must(t, err)
	b, err := newEBS(spec(p), opts(h, "i-b"))
	must(t, err)
	a.interval, b.interval = 10*time.Millisecond, 10*time.Millisecond
	wantState(t, a, resources.Running)
	wantState(t, b, resources.Stopped)
	must(t, b.Start(ctxT(t)))
	if inst, st := h.VolumeAttachment("vol-1"); inst != "i-b" || st != "attached" {
		t.Fatalf("volume on %s (%s)", inst, st)
	}
	var forced bool
	for _, e := range h.Log() {
		if e.Action == "DetachVolume" && e.Params["Force"] == "true" && e.Params["InstanceId"] == "i-a" {
			forced = true
		}
	}
	if !forced {
		t.Fatal("no forced detach from the previous holder")
	}
	wantState(t, a, resources.Stopped)
	must(t, a.Stop(ctxT(t))) // not ours: no-op
	wantState(t, b, resources.Running)
	must(t, b.Stop(ctxT(t)))
	if inst, _ := h.VolumeAttachment("vol-1"); inst != "" {
		t.Fatalf("still attached to %s", inst)
	}
	wantState(t, b, resources.Stopped)
}

// netnsHandle creates a namespace with an interface vip0 and returns a
// netlink handle inside it.
func netnsHandle(t *testing.T, suffix string) *netlink.Handle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not available")
	}
	name := fmt.Sprintf("vtaws-%d-%s", os.Getpid(), suffix)
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	// veth, not dummy: the dummy module is not always loadable in containers.
	run("-n", name, "link", "add", "vip0", "type", "veth", "peer", "name", "vip0p")
	run("-n", name, "link", "set", "vip0", "up")
	ns, err := netns.GetFromName(name)
	must(t, err)
	t.Cleanup(func() { ns.Close() })
	nh, err := netlink.NewHandleAt(ns)
	must(t, err)
	t.Cleanup(nh.Close)
	return nh
}

func TestPrivateIPMovesWithLocalAddress(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	p := map[string]string{"address": "198.18.0.50", "interface": "vip0"}
	a, err := newPrivateIP(spec(p), opts(h, "i-a"))
	must(t, err)
	b, err := newPrivateIP(spec(p), opts(h, "i-b"))
	must(t, err)
	a.nl, b.nl = netnsHandle(t, "ipa"), netnsHandle(t, "ipb")
	a.interval, b.interval = 10*time.Millisecond, 10*time.Millisecond

	wantState(t, a, resources.Stopped)
	must(t, a.Start(ctxT(t)))
	wantState(t, a, resources.Running)
	wantState(t, b, resources.Stopped)
	must(t, b.Start(ctxT(t)))
	wantState(t, b, resources.Running)
	if got := h.ENIAddresses("eni-b"); len(got) != 2 || got[1] != "198.18.0.50" {
		t.Fatalf("eni-b has %v", got)
	}
	// A still has the address locally but EC2 moved it: a failed resource.
	wantState(t, a, resources.Failed)
	must(t, a.Stop(ctxT(t)))
	wantState(t, a, resources.Stopped)
	wantState(t, b, resources.Running) // A's stop did not unassign B's address
	must(t, b.Stop(ctxT(t)))
	wantState(t, b, resources.Stopped)
	if got := h.ENIAddresses("eni-b"); len(got) != 1 {
		t.Fatalf("eni-b kept %v", got)
	}
}

func TestRouteMovesWithLocalAddress(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.RouteTables = append(cfg.RouteTables, ec2sim.RouteTableConfig{ID: "rtb-2", VpcID: "vpc-1",
		Routes: []ec2sim.RouteConfig{{Destination: "198.18.100.1/32", ENI: "eni-a"}}})
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	p := map[string]string{"route_tables": "rtb-1,rtb-2", "destination": "198.18.100.1/32", "interface": "vip0"}
	a, err := newRoute(spec(p), opts(h, "i-a"))
	must(t, err)
	b, err := newRoute(spec(p), opts(h, "i-b"))
	must(t, err)
	a.nl, b.nl = netnsHandle(t, "rta"), netnsHandle(t, "rtb")
	a.interval, b.interval = 10*time.Millisecond, 10*time.Millisecond

	wantState(t, a, resources.Failed) // routes ours, address not local yet
	must(t, a.Start(ctxT(t)))
	wantState(t, a, resources.Running)
	wantState(t, b, resources.Stopped)
	must(t, b.Start(ctxT(t)))
	wantState(t, b, resources.Running)
	for _, tbl := range []string{"rtb-1", "rtb-2"} {
		if got := h.RouteTarget(tbl, "198.18.100.1/32"); got != "eni-b" {
			t.Fatalf("%s routes to %s", tbl, got)
		}
	}
	wantState(t, a, resources.Failed)
	must(t, a.Stop(ctxT(t)))
	wantState(t, a, resources.Stopped)
	wantState(t, b, resources.Running)
}
