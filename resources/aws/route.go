package aws

import (
	"context"
	"fmt"
	"net"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/vigil-ha/vigil/cloud/awsapi"
	"github.com/vigil-ha/vigil/resources"
)

// Route points a destination in one or more route tables at this node's ENI
// and adds the overlay address locally (resource type "awsroute", like
// aws-vpc-move-ip). The ENI needs source/dest check disabled.
type Route struct {
	base
	tables  []string
	dest    string
	ifname  string
	address net.IP // nil: no local address
}

// NewRoute builds an awsroute agent: params route_tables (comma list),
// destination (CIDR), interface, address (defaults to a /32 destination's IP).
func NewRoute(s resources.Spec) (resources.Agent, error) {
	return newRoute(s, awsapi.Options{Logger: s.Logger})
}

func newRoute(s resources.Spec, o awsapi.Options) (*Route, error) {
	r := &Route{base: newBase(s, o), ifname: s.Params["interface"]}
	for _, t := range strings.Split(s.Params["route_tables"], ",") {
		if t = strings.TrimSpace(t); t != "" {
			r.tables = append(r.tables, t)
		}
	}
	if len(r.tables) == 0 {
		return nil, fmt.Errorf("awsroute: route_tables is required")
	}
	ip, n, err := net.ParseCIDR(s.Params["destination"])
	if err != nil {
		return nil, fmt.Errorf("awsroute: destination: %w", err)
	}
	r.dest = n.String()
	if r.address, err = parseIP("address", s.Params["address"], false); err != nil {
		return nil, fmt.Errorf("awsroute: %w", err)
	}
	if ones, bits := n.Mask.Size(); r.address == nil && ones == bits {
		r.address = ip
	}
	if r.ifname == "" {
		r.address = nil
	}
	return r, nil
}

// ours counts the tables whose route for dest points at eni.
func (r *Route) ours(ctx context.Context, c *awsapi.Clients, eni string) (int, error) {
	out, err := c.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: r.tables})
	if err != nil {
		return 0, fmt.Errorf("describe route tables: %w", err)
	}
	n := 0
	for _, t := range out.RouteTables {
		for _, rt := range t.Routes {
			if awssdk.ToString(rt.DestinationCidrBlock) == r.dest && awssdk.ToString(rt.NetworkInterfaceId) == eni {
				n++
			}
		}
	}
	return n, nil
}

func (r *Route) local() (bool, error) {
	if r.address == nil {
		return false, nil
	}
	return r.hasLocal(r.ifname, r.address)
}

// Monitor is Running when every table routes to our ENI (and the address is
// local), Stopped when none does and no local address, Failed in between.
func (r *Route) Monitor(ctx context.Context) (resources.State, error) {
	return r.settled(ctx, r.monitorOnce)
}

func (r *Route) monitorOnce(ctx context.Context) (resources.State, error) {
	c, _, eni, err := r.self(ctx)
	if err != nil {
		return resources.Failed, err
	}
	n, err := r.ours(ctx, c, eni)
	if err != nil {
		return resources.Failed, err
	}
	local, err := r.local()
	if err != nil {
		return resources.Failed, err
	}
	switch {
	case n == len(r.tables) && (local || r.address == nil):
		return resources.Running, nil
	case n == 0 && !local:
		return resources.Stopped, nil
	}
	return resources.Failed, fmt.Errorf("awsroute %s: %d of %d tables route to %s, local address %v", r.dest, n, len(r.tables), eni, local)
}

// Start replaces the route in every table, waits until all show our ENI,
// then adds the local address.
func (r *Route) Start(ctx context.Context) error { return r.claim(r.start(ctx)) }

func (r *Route) start(ctx context.Context) error {
	c, _, eni, err := r.self(ctx)
	if err != nil {
		return err
	}
	for _, t := range r.tables {
		_, err := c.EC2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: awssdk.String(t),
			DestinationCidrBlock: awssdk.String(r.dest), NetworkInterfaceId: awssdk.String(eni)})
		if err != nil {
			return fmt.Errorf("replace route %s in %s: %w", r.dest, t, err)
		}
	}
	r.log.Info("routes replaced", "destination", r.dest, "tables", r.tables, "eni", eni)
	err = r.poll(ctx, func(ctx context.Context) (bool, error) {
		n, err := r.ours(ctx, c, eni)
		return n == len(r.tables), err
	})
	if err != nil || r.address == nil {
		return err
	}
	return r.addLocal(r.ifname, r.address)
}

// Stop removes the local address only: the routes stay until the next
// holder replaces them (there is nothing better to point them at).
func (r *Route) Stop(ctx context.Context) error {
	r.claimed.Store(false)
	return r.stop(ctx)
}

func (r *Route) stop(ctx context.Context) error {
	if r.address == nil {
		return nil
	}
	return r.delLocal(r.ifname, r.address)
}
