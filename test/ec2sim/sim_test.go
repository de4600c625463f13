package ec2sim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

func client(url string, attempts int) *ec2.Client {
	return ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 5 * time.Millisecond
			o.RateLimiter = ratelimit.None
		})})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func stateOf(t *testing.T, c *ec2.Client, id string) types.InstanceStateName {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	must(t, err)
	return out.Reservations[0].Instances[0].State.Name
}

func waitState(t *testing.T, c *ec2.Client, id string, want types.InstanceStateName) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for stateOf(t, c, id) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s", id, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInstancesStopStartAndHooks(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	cfg := ec2sim.PairConfig()
	cfg.Knobs.ForceStopDelay = ec2sim.Duration(30 * time.Millisecond)
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{
		OnStopped: func(id string) { mu.Lock(); hooks = append(hooks, "stopped "+id); mu.Unlock() },
		OnStarted: func(id string) { mu.Lock(); hooks = append(hooks, "started "+id); mu.Unlock() },
	})
	c := client(h.URL, 1)
	ctx := context.Background()

	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	must(t, err)
	if n := len(out.Reservations); n != 2 {
		t.Fatalf("reservations = %d", n)
	}
	in := out.Reservations[0].Instances[0]
	if aws.ToString(in.InstanceId) != "i-a" || aws.ToString(in.PrivateIpAddress) != "198.18.0.10" ||
		aws.ToString(in.NetworkInterfaces[0].MacAddress) != "02:00:00:00:00:0a" || aws.ToString(in.Placement.AvailabilityZone) != "us-east-1a" {
		t.Fatalf("instance fields not parsed: %+v", in)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-nope"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	f, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"stopped"}}}})
	must(t, err)
	if len(f.Reservations) != 0 {
		t.Fatalf("filter matched running instances")
	}

	st, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}, Force: aws.Bool(true), SkipOsShutdown: aws.Bool(true)})
	must(t, err)
	s := st.StoppingInstances[0]
	if s.PreviousState.Name != types.InstanceStateNameRunning || s.CurrentState.Name != types.InstanceStateNameStopping || aws.ToInt32(s.CurrentState.Code) != 64 {
		t.Fatalf("stop response: %+v %+v", s.PreviousState, s.CurrentState)
	}
	waitState(t, c, "i-b", types.InstanceStateNameStopped)
	mu.Lock()
	if len(hooks) != 1 || hooks[0] != "stopped i-b" {
		t.Fatalf("hooks = %v, want the stop hook to have run when stopped is visible", hooks)
	}
	mu.Unlock()
	// Stopping a stopped instance is not an error.
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}})
	must(t, err)

	_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{"i-b"}})
	must(t, err)
	waitState(t, c, "i-b", types.InstanceStateNameRunning)
	mu.Lock()
	if len(hooks) != 2 || hooks[1] != "started i-b" {
		t.Fatalf("hooks = %v", hooks)
	}
	mu.Unlock()

	must(t, h.SetInstanceState("i-b", "terminated"))
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}})
	wantCode(t, err, "IncorrectInstanceState")
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"bogus"}})
	wantCode(t, err, "InvalidInstanceID.Malformed")
}

func TestStuckStopping(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Knobs.StuckStopping = "graceful"
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()
	_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}})
	must(t, err)
	// Stuck: stopping, and nothing scheduled that would ever end it.
	if got := stateOf(t, c, "i-b"); got != types.InstanceStateNameStopping || h.Sim.Scheduled() != 0 {
		t.Fatalf("graceful stop with stuck knob: %s with %d state changes to come, want stopping and none", got, h.Sim.Scheduled())
	}
	// A forced stop gets through a stuck graceful one.
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-b"}, Force: aws.Bool(true)})
	must(t, err)
	waitState(t, c, "i-b", types.InstanceStateNameStopped)

	h.UpdateKnobs(func(k *ec2sim.Knobs) { k.StuckStopping = "always" })
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-a"}, Force: aws.Bool(true)})
	must(t, err)
	if got := stateOf(t, c, "i-a"); got != types.InstanceStateNameStopping || h.Sim.Scheduled() != 0 {
		t.Fatalf("stuck always: %s with %d state changes to come", got, h.Sim.Scheduled())
	}
	h.UpdateKnobs(func(k *ec2sim.Knobs) { k.StuckStopping = "" }) // clearing the knob releases it
	waitState(t, c, "i-a", types.InstanceStateNameStopped)
}

func TestAuthorizationRequired(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	resp, err := http.Post(h.URL, "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeInstances&Version=2016-11-15"))
	must(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1024)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	if resp.StatusCode != 401 || !strings.Contains(b.String(), "<Code>AuthFailure</Code>") {
		t.Fatalf("unsigned call: %d %s", resp.StatusCode, b.String())
	}
}
