package aws

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/resources"
)

// EBS attaches a volume to this instance (resource type "ebs").
//
// Contract: Start force-detaches the volume from any other instance. That is
// safe only because the executor starts a group on a new node after the
// previous holder stopped it or was fenced (DESIGN.md invariant 2); a forced
// detach from a live writer would corrupt the filesystem. The agent does not
// mount anything: put a filesystem resource after it in the group.
type EBS struct {
	base
	volume string
	device string
}

// NewEBS builds an ebs agent: params volume_id, device.
func NewEBS(s resources.Spec) (resources.Agent, error) {
	return newEBS(s, awsapi.Options{Logger: s.Logger})
}

func newEBS(s resources.Spec, o awsapi.Options) (*EBS, error) {
	e := &EBS{base: newBase(s, o), volume: s.Params["volume_id"], device: s.Params["device"]}
	if e.volume == "" || e.device == "" {
		return nil, fmt.Errorf("ebs: volume_id and device are required")
	}
	return e, nil
}

// attachment reads where the volume is attached ("" if available) and the
// attachment state.
func (e *EBS) attachment(ctx context.Context, c *awsapi.Clients) (instance string, state types.VolumeAttachmentState, err error) {
	out, err := c.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{e.volume}})
	if err != nil {
		return "", "", fmt.Errorf("describe volume %s: %w", e.volume, err)
	}
	for _, v := range out.Volumes {
		for _, a := range v.Attachments {
			return awssdk.ToString(a.InstanceId), a.State, nil
		}
	}
	return "", "", nil
}

// Monitor is Running when attached to us, Stopped when not attached to us,
// Failed while attaching to or detaching from us.
func (e *EBS) Monitor(ctx context.Context) (resources.State, error) {
	return e.settled(ctx, e.monitorOnce)
}

func (e *EBS) monitorOnce(ctx context.Context) (resources.State, error) {
	c, self, _, err := e.self(ctx)
	if err != nil {
		return resources.Failed, err
	}
	inst, st, err := e.attachment(ctx, c)
	switch {
	case err != nil:
		return resources.Failed, err
	case inst != self:
		return resources.Stopped, nil
	case st == types.VolumeAttachmentStateAttached:
		return resources.Running, nil
	}
	return resources.Failed, fmt.Errorf("ebs %s: attachment to %s is %s", e.volume, self, st)
}

func (e *EBS) waitAttached(ctx context.Context, c *awsapi.Clients, self string) error {
	return e.poll(ctx, func(ctx context.Context) (bool, error) {
		inst, st, err := e.attachment(ctx, c)
		return err == nil && inst == self && st == types.VolumeAttachmentStateAttached, err
	})
}

func (e *EBS) waitNotAttachedTo(ctx context.Context, c *awsapi.Clients, inst string) error {
	return e.poll(ctx, func(ctx context.Context) (bool, error) {
		got, _, err := e.attachment(ctx, c)
		return err == nil && got != inst, err
	})
}

// Start detaches the volume from a previous (fenced) holder with Force,
// attaches it here and waits until it reads attached.
func (e *EBS) Start(ctx context.Context) error { return e.claim(e.start(ctx)) }

func (e *EBS) start(ctx context.Context) error {
	c, self, _, err := e.self(ctx)
	if err != nil {
		return err
	}
	inst, st, err := e.attachment(ctx, c)
	if err != nil {
		return err
	}
	if inst == self && st != types.VolumeAttachmentStateDetaching {
		return e.waitAttached(ctx, c, self)
	}
	if inst != "" {
		if inst != self {
			e.log.Warn("force-detaching volume from previous holder", "volume", e.volume, "instance", inst)
			_, err := c.EC2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: awssdk.String(e.volume),
				InstanceId: awssdk.String(inst), Force: awssdk.Bool(true)})
			if err != nil && awsapi.ErrorCode(err) != "IncorrectState" {
				return fmt.Errorf("force-detach %s from %s: %w", e.volume, inst, err)
			}
		}
		if err := e.waitNotAttachedTo(ctx, c, inst); err != nil {
			return err
		}
	}
	_, err = c.EC2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: awssdk.String(e.volume),
		InstanceId: awssdk.String(self), Device: awssdk.String(e.device)})
	if err != nil {
		return fmt.Errorf("attach %s to %s: %w", e.volume, self, err)
	}
	e.log.Info("volume attached", "volume", e.volume, "device", e.device)
	return e.waitAttached(ctx, c, self)
}

// Stop detaches the volume from us (not forced) and waits until it is gone.
func (e *EBS) Stop(ctx context.Context) error {
	e.claimed.Store(false)
	return e.stop(ctx)
}

func (e *EBS) stop(ctx context.Context) error {
	c, self, _, err := e.self(ctx)
	if err != nil {
		return err
	}
	inst, st, err := e.attachment(ctx, c)
	if err != nil || inst != self {
		return err
	}
	if st != types.VolumeAttachmentStateDetaching {
		_, err := c.EC2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: awssdk.String(e.volume), InstanceId: awssdk.String(self)})
		if err != nil && awsapi.ErrorCode(err) != "IncorrectState" && awsapi.ErrorCode(err) != "InvalidAttachment.NotFound" {
			return fmt.Errorf("detach %s: %w", e.volume, err)
		}
	}
	return e.waitNotAttachedTo(ctx, c, self)
}
