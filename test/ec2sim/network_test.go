package ec2sim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

func TestElasticIPMovesBetweenInstances(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()

	// Explicit AllowReassociation=false while associated elsewhere is refused.
	_, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"),
		NetworkInterfaceId: aws.String("eni-b"), AllowReassociation: aws.Bool(false)})
	wantCode(t, err, "Resource.AlreadyAssociated")

	out, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"),
		NetworkInterfaceId: aws.String("eni-b"), AllowReassociation: aws.Bool(true)})
	must(t, err)
	assoc := aws.ToString(out.AssociationId)
	if assoc == "" {
		t.Fatal("no association id")
	}
	d, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-1"}})
	must(t, err)
	a := d.Addresses[0]
	if aws.ToString(a.NetworkInterfaceId) != "eni-b" || aws.ToString(a.InstanceId) != "i-b" ||
		aws.ToString(a.PrivateIpAddress) != "198.18.0.11" || aws.ToString(a.AssociationId) != assoc {
		t.Fatalf("after move: %+v", a)
	}
	// A has lost it.
	fa, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: []string{"i-a"}}}})
	must(t, err)
	if len(fa.Addresses) != 0 {
		t.Fatalf("i-a still holds %+v", fa.Addresses)
	}

	_, err = c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: aws.String("eipassoc-cfg0")})
	wantCode(t, err, "InvalidAssociationID.NotFound") // the old association died with the move
	_, err = c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: aws.String(assoc)})
	must(t, err)
	if h.AddressENI("eipalloc-1") != "" {
		t.Fatal("still associated")
	}
	_, err = c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-9"}})
	wantCode(t, err, "InvalidAllocationID.NotFound")
	_, err = c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), NetworkInterfaceId: aws.String("eni-x")})
	wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
	// By instance id (single ENI) works too.
	_, err = c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-a")})
	must(t, err)
	if h.AddressENI("eipalloc-1") != "eni-a" {
		t.Fatal("associate by instance id failed")
	}
}

func TestSecondaryPrivateIPs(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()
	const vip = "198.18.0.50"

	out, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-a"),
		PrivateIpAddresses: []string{vip}, AllowReassignment: aws.Bool(true)})
	must(t, err)
	if aws.ToString(out.AssignedPrivateIpAddresses[0].PrivateIpAddress) != vip {
		t.Fatalf("assign response %+v", out)
	}
	_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-b"),
		PrivateIpAddresses: []string{vip}})
	wantCode(t, err, "InvalidParameterValue") // in use, no reassignment
	_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-b"),
		PrivateIpAddresses: []string{vip}, AllowReassignment: aws.Bool(true)})
	must(t, err)

	d, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("addresses.private-ip-address"), Values: []string{vip}}}})
	must(t, err)
	if len(d.NetworkInterfaces) != 1 || aws.ToString(d.NetworkInterfaces[0].NetworkInterfaceId) != "eni-b" ||
		aws.ToString(d.NetworkInterfaces[0].Attachment.InstanceId) != "i-b" || len(d.NetworkInterfaces[0].PrivateIpAddresses) != 2 {
		t.Fatalf("after reassignment: %+v", d.NetworkInterfaces)
	}
	if got := h.ENIAddresses("eni-a"); len(got) != 1 {
		t.Fatalf("eni-a kept %v", got)
	}
	_, err = c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-a"), PrivateIpAddresses: []string{vip}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-b"), PrivateIpAddresses: []string{vip}})
	must(t, err)
	_, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-zz"}})
	wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
}

func TestRoutes(t *testing.T) {
	h := ec2sim.Serve(t, ec2sim.PairConfig(), ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()
	_, err := c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String("rtb-1"),
		DestinationCidrBlock: aws.String("198.18.100.1/32"), NetworkInterfaceId: aws.String("eni-b")})
	must(t, err)
	d, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-1"}})
	must(t, err)
	r := d.RouteTables[0].Routes[0]
	if aws.ToString(r.NetworkInterfaceId) != "eni-b" || aws.ToString(r.InstanceId) != "i-b" || aws.ToString(r.DestinationCidrBlock) != "198.18.100.1/32" {
		t.Fatalf("route %+v", r)
	}
	_, err = c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String("rtb-1"),
		DestinationCidrBlock: aws.String("198.18.200.0/24"), NetworkInterfaceId: aws.String("eni-b")})
	wantCode(t, err, "InvalidRoute.NotFound")
	_, err = c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String("rtb-9"),
		DestinationCidrBlock: aws.String("198.18.100.1/32"), NetworkInterfaceId: aws.String("eni-b")})
	wantCode(t, err, "InvalidRouteTableID.NotFound")
	_, err = c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-9"}})
	wantCode(t, err, "InvalidRouteTableID.NotFound")
}

func TestVolumes(t *testing.T) {
	cfg := ec2sim.PairConfig()
	cfg.Volumes = append(cfg.Volumes, ec2sim.VolumeConfig{ID: "vol-far", AZ: "us-east-1c"})
	h := ec2sim.Serve(t, cfg, ec2sim.Hooks{})
	c := client(h.URL, 1)
	ctx := context.Background()

	_, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String("vol-1"), InstanceId: aws.String("i-b"), Device: aws.String("/dev/sdf")})
	wantCode(t, err, "VolumeInUse")
	_, err = c.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String("vol-1"), InstanceId: aws.String("i-b")})
	wantCode(t, err, "InvalidAttachment.NotFound")
	det, err := c.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String("vol-1"), Force: aws.Bool(true)})
	must(t, err)
	if det.State != types.VolumeAttachmentStateDetaching || aws.ToString(det.InstanceId) != "i-a" {
		t.Fatalf("detach response %+v", det)
	}
	d, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-1"}})
	must(t, err)
	if d.Volumes[0].State != types.VolumeStateAvailable || len(d.Volumes[0].Attachments) != 0 {
		t.Fatalf("after detach %+v", d.Volumes[0])
	}
	att, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String("vol-1"), InstanceId: aws.String("i-b"), Device: aws.String("/dev/sdf")})
	must(t, err)
	if att.State != types.VolumeAttachmentStateAttaching {
		t.Fatalf("attach response %+v", att)
	}
	d, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{"i-b"}}}})
	must(t, err)
	if len(d.Volumes) != 1 || d.Volumes[0].Attachments[0].State != types.VolumeAttachmentStateAttached {
		t.Fatalf("attached to i-b: %+v", d.Volumes)
	}
	_, err = c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String("vol-far"), InstanceId: aws.String("i-b"), Device: aws.String("/dev/sdg")})
	wantCode(t, err, "InvalidVolume.ZoneMismatch")
	_, err = c.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String("vol-far")})
	wantCode(t, err, "IncorrectState")
}
