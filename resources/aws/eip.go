package aws

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/resources"
)

// EIP associates an Elastic IP with this node's ENI (resource type "awseip").
// Reassociation moves it away from the previous holder in one call, so the
// old node loses it even if it cannot be reached.
type EIP struct {
	base
	allocation string
	privateIP  string
}

// NewEIP builds an awseip agent: params allocation_id, private_ip, eni.
func NewEIP(s resources.Spec) (resources.Agent, error) {
	return newEIP(s, awsapi.Options{Logger: s.Logger})
}

func newEIP(s resources.Spec, o awsapi.Options) (*EIP, error) {
	a := &EIP{base: newBase(s, o), allocation: s.Params["allocation_id"], privateIP: s.Params["private_ip"]}
	if a.allocation == "" {
		return nil, fmt.Errorf("awseip: allocation_id is required")
	}
	if _, err := parseIP("private_ip", a.privateIP, false); err != nil {
		return nil, fmt.Errorf("awseip: %w", err)
	}
	return a, nil
}

// holder reads the address: its association id, ENI and private IP.
func (a *EIP) holder(ctx context.Context, c *awsapi.Clients) (assoc, eni, ip string, err error) {
	out, err := c.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{a.allocation}})
	if err != nil {
		return "", "", "", fmt.Errorf("describe address %s: %w", a.allocation, err)
	}
	for _, ad := range out.Addresses {
		if awssdk.ToString(ad.AllocationId) == a.allocation {
			return awssdk.ToString(ad.AssociationId), awssdk.ToString(ad.NetworkInterfaceId), awssdk.ToString(ad.PrivateIpAddress), nil
		}
	}
	return "", "", "", fmt.Errorf("describe address %s: not in response", a.allocation)
}

func (a *EIP) ours(eni, gotENI, gotIP string) bool {
	return gotENI == eni && (a.privateIP == "" || gotIP == a.privateIP)
}

// Monitor reports Running while the address is associated with our ENI.
func (a *EIP) Monitor(ctx context.Context) (resources.State, error) {
	return a.settled(ctx, a.monitorOnce)
}

func (a *EIP) monitorOnce(ctx context.Context) (resources.State, error) {
	c, _, eni, err := a.self(ctx)
	if err != nil {
		return resources.Failed, err
	}
	_, gotENI, gotIP, err := a.holder(ctx, c)
	if err != nil {
		return resources.Failed, err
	}
	if a.ours(eni, gotENI, gotIP) {
		return resources.Running, nil
	}
	return resources.Stopped, nil
}

// Start associates the address with our ENI and waits until EC2 shows it.
func (a *EIP) Start(ctx context.Context) error { return a.claim(a.start(ctx)) }

func (a *EIP) start(ctx context.Context) error {
	c, _, eni, err := a.self(ctx)
	if err != nil {
		return err
	}
	if _, gotENI, gotIP, err := a.holder(ctx, c); err == nil && a.ours(eni, gotENI, gotIP) {
		return nil
	}
	in := &ec2.AssociateAddressInput{AllocationId: awssdk.String(a.allocation), NetworkInterfaceId: awssdk.String(eni),
		AllowReassociation: awssdk.Bool(true)}
	if a.privateIP != "" {
		in.PrivateIpAddress = awssdk.String(a.privateIP)
	}
	if _, err := c.EC2.AssociateAddress(ctx, in); err != nil {
		return fmt.Errorf("associate %s with %s: %w", a.allocation, eni, err)
	}
	a.log.Info("elastic ip associated", "allocation", a.allocation, "eni", eni)
	return a.poll(ctx, func(ctx context.Context) (bool, error) {
		_, gotENI, gotIP, err := a.holder(ctx, c)
		return err == nil && a.ours(eni, gotENI, gotIP), err
	})
}

// Stop disassociates the address only if it is still ours: by association
// id, so it can never undo a newer association made by another node.
func (a *EIP) Stop(ctx context.Context) error {
	a.claimed.Store(false)
	return a.stop(ctx)
}

func (a *EIP) stop(ctx context.Context) error {
	c, _, eni, err := a.self(ctx)
	if err != nil {
		return err
	}
	assoc, gotENI, gotIP, err := a.holder(ctx, c)
	if err != nil {
		return err
	}
	if !a.ours(eni, gotENI, gotIP) {
		return nil
	}
	_, err = c.EC2.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: awssdk.String(assoc)})
	if err != nil && awsapi.ErrorCode(err) != "InvalidAssociationID.NotFound" {
		return fmt.Errorf("disassociate %s: %w", a.allocation, err)
	}
	return a.poll(ctx, func(ctx context.Context) (bool, error) {
		_, gotENI, gotIP, err := a.holder(ctx, c)
		return err == nil && !a.ours(eni, gotENI, gotIP), err
	})
}
