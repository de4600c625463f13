// Package aws fences an EC2 instance: StopInstances with Force and
// SkipOsShutdown, then poll DescribeInstances until it reads "stopped".
package aws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/fencing"
)

// ErrSelfNotRunning is returned by Off when this node's own instance is not
// running: in a two-node fence race the node being stopped must not shoot.
var ErrSelfNotRunning = errors.New("refusing to fence: own instance is not running")

// Fencer stops one EC2 instance.
type Fencer struct {
	instanceID string
	clients    *awsapi.Lazy
	interval   time.Duration
	log        hclog.Logger
	selfMu     sync.Mutex
	self       string // own instance id, cached: it never changes
}

// New builds a fencer from params instance_id and region (optional: the
// SDK's region settings, then IMDS). Credentials come from the default chain;
// AWS_ENDPOINT_URL_EC2 and AWS_EC2_METADATA_SERVICE_ENDPOINT redirect the
// endpoints (labs use this to point at test/ec2sim).
func New(d fencing.Device) (fencing.Fencer, error) {
	return newFencer(d, awsapi.Options{Region: d.Params["region"], Logger: d.Logger})
}

func newFencer(d fencing.Device, o awsapi.Options) (*Fencer, error) {
	if err := Schema().Check("aws fence", d.Params); err != nil {
		return nil, err
	}
	id := d.Params["instance_id"]
	if id == "" {
		return nil, errors.New("aws fence: instance_id is required")
	}
	if o.Region == "" {
		o.Region = d.Params["region"]
	}
	log := d.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Fencer{instanceID: id, clients: &awsapi.Lazy{Options: o}, interval: awsapi.PollInterval,
		log: log.With("fence", d.Name, "instance", id)}, nil
}

// states reads the state of each instance in one call.
func states(ctx context.Context, c *ec2.Client, ids ...string) (map[string]types.InstanceStateName, error) {
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return nil, fmt.Errorf("describe instances %v: %w", ids, err)
	}
	m := map[string]types.InstanceStateName{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State != nil {
				m[awssdk.ToString(in.InstanceId)] = in.State.Name
			}
		}
	}
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			return nil, fmt.Errorf("describe instances: %s not in response", id)
		}
	}
	return m, nil
}

func state(ctx context.Context, c *ec2.Client, id string) (types.InstanceStateName, error) {
	m, err := states(ctx, c, id)
	return m[id], err
}

// Status maps running to on, stopped and terminated to off, anything else to unknown.
func (f *Fencer) Status(ctx context.Context) (fencing.Power, error) {
	c, err := f.clients.Get(ctx)
	if err != nil {
		return fencing.PowerUnknown, err
	}
	st, err := state(ctx, c.EC2, f.instanceID)
	if err != nil {
		return fencing.PowerUnknown, err
	}
	return power(st), nil
}

func power(st types.InstanceStateName) fencing.Power {
	switch st {
	case types.InstanceStateNameRunning:
		return fencing.PowerOn
	case types.InstanceStateNameStopped, types.InstanceStateNameTerminated:
		return fencing.PowerOff
	}
	return fencing.PowerUnknown
}

// DefaultTimeout bounds Off when the caller's ctx has no deadline.
const DefaultTimeout = 2 * time.Minute

// Off stops the instance and returns once it reads stopped (or ctx ends).
func (f *Fencer) Off(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := fencing.WithDefaultTimeout(ctx, DefaultTimeout)
	defer cancel()
	c, err := f.clients.Get(ctx)
	if err != nil {
		return err
	}
	st, err := f.raceGuard(ctx, c)
	if err != nil {
		return err
	}
	if power(st) == fencing.PowerOff {
		f.log.Info("instance already off", "state", st)
		return nil
	}
	_, err = c.EC2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{f.instanceID},
		Force: awssdk.Bool(true), SkipOsShutdown: awssdk.Bool(true)})
	if err != nil {
		return fmt.Errorf("stop instance %s: %w", f.instanceID, err)
	}
	err = awsapi.Poll(ctx, f.interval, func(ctx context.Context) (bool, error, error) {
		st, err := state(ctx, c.EC2, f.instanceID)
		if err != nil {
			return false, err, nil // throttled or transient: keep polling
		}
		return power(st) == fencing.PowerOff, nil, nil
	})
	if err != nil {
		return fmt.Errorf("instance %s did not reach stopped: %w", f.instanceID, err)
	}
	f.log.Info("instance stopped", "duration", time.Since(start))
	return nil
}

// On starts the instance again; nil once EC2 accepted the request.
func (f *Fencer) On(ctx context.Context) error {
	ctx, cancel := fencing.WithDefaultTimeout(ctx, DefaultTimeout)
	defer cancel()
	c, err := f.clients.Get(ctx)
	if err != nil {
		return err
	}
	if _, err := c.EC2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{f.instanceID}}); err != nil {
		return fmt.Errorf("start instance %s: %w", f.instanceID, err)
	}
	f.log.Info("instance started")
	return nil
}

// raceGuard refuses to fence unless this node's own instance reads running,
// like fence_aws: of two nodes shooting each other, the one already being
// stopped backs off. Without IMDS (not on EC2) the guard cannot be checked
// and fencing is refused. It reads the target's state in the same call and
// returns it.
func (f *Fencer) raceGuard(ctx context.Context, c *awsapi.Clients) (types.InstanceStateName, error) {
	f.selfMu.Lock()
	self := f.self
	f.selfMu.Unlock()
	if self == "" {
		var err error
		if self, err = c.InstanceID(ctx); err != nil {
			return "", fmt.Errorf("refusing to fence: cannot read own instance id: %w", err)
		}
		f.selfMu.Lock()
		f.self = self
		f.selfMu.Unlock()
	}
	ids := []string{f.instanceID}
	if self != f.instanceID {
		ids = append(ids, self)
	}
	m, err := states(ctx, c.EC2, ids...)
	if err != nil {
		return "", err
	}
	if self != f.instanceID && m[self] != types.InstanceStateNameRunning {
		return "", fmt.Errorf("%w (%s is %s)", ErrSelfNotRunning, self, m[self])
	}
	return m[f.instanceID], nil
}
