package aws

import (
	"context"
	"fmt"
	"net"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/resources"
)

// PrivateIP moves a secondary private IP to this node's ENI and adds it to a
// local interface (resource type "awsip"). No gratuitous ARP: in a VPC the
// ENI assignment, not ARP, decides delivery.
type PrivateIP struct {
	base
	address net.IP
	ifname  string
}

// NewPrivateIP builds an awsip agent: params address, interface, eni.
func NewPrivateIP(s resources.Spec) (resources.Agent, error) {
	return newPrivateIP(s, awsapi.Options{Logger: s.Logger})
}

func newPrivateIP(s resources.Spec, o awsapi.Options) (*PrivateIP, error) {
	ip, err := parseIP("address", s.Params["address"], true)
	if err != nil {
		return nil, fmt.Errorf("awsip: %w", err)
	}
	if s.Params["interface"] == "" {
		return nil, fmt.Errorf("awsip: interface is required")
	}
	return &PrivateIP{base: newBase(s, o), address: ip, ifname: s.Params["interface"]}, nil
}

// assigned reports whether EC2 shows the address on eni.
func (p *PrivateIP) assigned(ctx context.Context, c *awsapi.Clients, eni string) (bool, error) {
	out, err := c.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
	if err != nil {
		return false, fmt.Errorf("describe %s: %w", eni, err)
	}
	for _, ni := range out.NetworkInterfaces {
		for _, pa := range ni.PrivateIpAddresses {
			if net.ParseIP(awssdk.ToString(pa.PrivateIpAddress)).Equal(p.address) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Monitor is Running when EC2 assigns the address to our ENI and it is on
// the local interface, Stopped when neither, Failed when only one holds.
func (p *PrivateIP) Monitor(ctx context.Context) (resources.State, error) {
	return p.settled(ctx, p.monitorOnce)
}

func (p *PrivateIP) monitorOnce(ctx context.Context) (resources.State, error) {
	c, _, eni, err := p.self(ctx)
	if err != nil {
		return resources.Failed, err
	}
	api, err := p.assigned(ctx, c, eni)
	if err != nil {
		return resources.Failed, err
	}
	local, err := p.hasLocal(p.ifname, p.address)
	if err != nil {
		return resources.Failed, err
	}
	switch {
	case api && local:
		return resources.Running, nil
	case !api && !local:
		return resources.Stopped, nil
	}
	return resources.Failed, fmt.Errorf("awsip %s: assigned to our ENI=%v, on %s=%v", p.address, api, p.ifname, local)
}

// Start assigns the address to our ENI (taking it from any other ENI), waits
// until EC2 shows it, then adds it locally.
func (p *PrivateIP) Start(ctx context.Context) error { return p.claim(p.start(ctx)) }

func (p *PrivateIP) start(ctx context.Context) error {
	c, _, eni, err := p.self(ctx)
	if err != nil {
		return err
	}
	if ok, err := p.assigned(ctx, c, eni); err != nil || !ok {
		_, err := c.EC2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: awssdk.String(eni),
			PrivateIpAddresses: []string{p.address.String()}, AllowReassignment: awssdk.Bool(true)})
		if err != nil {
			return fmt.Errorf("assign %s to %s: %w", p.address, eni, err)
		}
		p.log.Info("private ip assigned", "address", p.address, "eni", eni)
		if err := p.poll(ctx, func(ctx context.Context) (bool, error) { return p.assigned(ctx, c, eni) }); err != nil {
			return err
		}
	}
	return p.addLocal(p.ifname, p.address)
}

// Stop removes the local address, then unassigns it if our ENI still has it.
func (p *PrivateIP) Stop(ctx context.Context) error {
	p.claimed.Store(false)
	return p.stop(ctx)
}

func (p *PrivateIP) stop(ctx context.Context) error {
	if err := p.delLocal(p.ifname, p.address); err != nil {
		return err
	}
	c, _, eni, err := p.self(ctx)
	if err != nil {
		return err
	}
	ok, err := p.assigned(ctx, c, eni)
	if err != nil || !ok {
		return err
	}
	_, err = c.EC2.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: awssdk.String(eni),
		PrivateIpAddresses: []string{p.address.String()}})
	// InvalidParameterValue here means another node took it meanwhile.
	if err != nil && awsapi.ErrorCode(err) != "InvalidParameterValue" {
		return fmt.Errorf("unassign %s from %s: %w", p.address, eni, err)
	}
	return nil
}
