package ec2sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

func TestThrottling(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.ThrottleEvery = 2
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	ctx := context.Background()
	// Without retries every second call fails with the throttling code.
	c1 := client(h.URL, 1)
	_, err1 := c1.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	_, err2 := c1.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	must(t, err1)
	wantCode(t, err2, "RequestLimitExceeded")
	// The SDK's standard retryer gets through.
	c := client(h.URL, 5)
	for range 6 {
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		must(t, err)
	}
	// Rate limiting: 5/s with burst 5 refuses a quick burst of 20.
	h.UpdateKnobs(func(k *ec2sim.Knobs) { k.ThrottleEvery, k.ThrottleRate = 0, 5 })
	refused := 0
	for range 20 {
		if _, err := c1.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); code(err) == "RequestLimitExceeded" {
			refused++
		}
	}
	if refused < 10 {
		t.Fatalf("rate 5/s refused only %d of 20 burst calls", refused)
	}
}

func TestEventualConsistency(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.StaleReads = 3
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()
	_, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), NetworkInterfaceId: aws.String("eni-b"), AllowReassociation: aws.Bool(true)})
	must(t, err)
	var seen []string
	for range 5 {
		d, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-1"}})
		must(t, err)
		seen = append(seen, aws.ToString(d.Addresses[0].NetworkInterfaceId))
	}
	if strings.Join(seen, ",") != "eni-a,eni-a,eni-a,eni-b,eni-b" {
		t.Fatalf("describe sequence %v, want 3 stale reads then the new state", seen)
	}
}

func TestInjectedErrorAndLatency(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.Errors = map[string]ec2sim.InjectedError{"StopInstances": {Code: "UnauthorizedOperation", Status: 403, Count: 1}}
	cfg.Knobs.Latency = ec2sim.Duration(20 * time.Millisecond)
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()
	start := time.Now()
	_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}})
	wantCode(t, err, "UnauthorizedOperation")
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("latency knob ignored: %v", d)
	}
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}})
	must(t, err) // count 1: the second call goes through
}

func TestAdminEndpointAndLog(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()
	resp, err := http.Post(h.URL+"/_sim/knobs", "application/json", bytes.NewReader([]byte(
		`{"latency":"5ms","errors":{"ReplaceRoute":{"code":"InternalError","status":500}}}`)))
	must(t, err)
	resp.Body.Close()
	if k := h.Knobs(); time.Duration(k.Latency) != 5*time.Millisecond || k.Errors["ReplaceRoute"].Code != "InternalError" {
		t.Fatalf("knobs after POST: %+v", k)
	}
	_, err = c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String("rtb-1"), DestinationCidrBlock: aws.String("198.18.100.1/32"), NetworkInterfaceId: aws.String("eni-b")})
	wantCode(t, err, "InternalError")
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-a"}, Force: aws.Bool(true), SkipOsShutdown: aws.Bool(true)})
	must(t, err)
	waitState(t, c, "i-a", "stopped")
	_, err = c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), NetworkInterfaceId: aws.String("eni-b")})
	must(t, err)

	resp, err = http.Get(h.URL + "/_sim/log")
	must(t, err)
	defer resp.Body.Close()
	var log []ec2sim.Event
	must(t, json.NewDecoder(resp.Body).Decode(&log))
	var order []string
	for _, e := range log {
		if e.Action != "DescribeInstances" {
			order = append(order, e.Action+":"+e.Params["To"]+":"+e.Result)
		}
	}
	want := "ReplaceRoute::InternalError StopInstances::ok state:stopped:ok AssociateAddress::ok"
	if strings.Join(order, " ") != want {
		t.Fatalf("log order:\n got %s\nwant %s", strings.Join(order, " "), want)
	}
	if log[1].Params["InstanceId.1"] != "i-a" || log[1].Params["Force"] != "true" {
		t.Fatalf("params not logged: %+v", log[1])
	}
}

func TestIMDS(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	ctx := context.Background()
	md := imds.New(imds.Options{Endpoint: h.IMDS["i-b"]})
	get := func(p string) string {
		out, err := md.GetMetadata(ctx, &imds.GetMetadataInput{Path: p})
		must(t, err)
		b, _ := io.ReadAll(out.Content)
		return string(b)
	}
	if got := get("instance-id"); got != "i-b" {
		t.Fatalf("instance-id %q", got)
	}
	mac := get("mac")
	if got := get("network/interfaces/macs/" + mac + "/interface-id"); got != "eni-b" {
		t.Fatalf("interface-id %q", got)
	}
	r, err := md.GetRegion(ctx, &imds.GetRegionInput{})
	must(t, err)
	if r.Region != "us-east-1" {
		t.Fatalf("region %q", r.Region)
	}
	doc, err := md.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	must(t, err)
	if doc.InstanceID != "i-b" || doc.PrivateIP != "198.18.0.11" || doc.AvailabilityZone != "us-east-1a" {
		t.Fatalf("identity document %+v", doc.InstanceIdentityDocument)
	}
	// IMDSv2 details the SDK depends on: TTL echo, 401 without a token, 400 on bad TTL.
	req, _ := http.NewRequest(http.MethodPut, h.IMDS["i-b"]+"/latest/api/token", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "60" {
		t.Fatal("TTL not echoed")
	}
	resp, err = http.Get(h.IMDS["i-b"] + "/latest/meta-data/instance-id")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("tokenless GET: %d", resp.StatusCode)
	}
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "0")
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("bad TTL: %d", resp.StatusCode)
	}
}
