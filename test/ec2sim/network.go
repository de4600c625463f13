package ec2sim

import (
	"fmt"
	"slices"
	"strconv"
)

func (s *Sim) associateAddress(r req) ([]node, *apiError) {
	alloc := r.get("AllocationId")
	if alloc == "" && r.get("PublicIp") == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter AllocationId")
	}
	a := s.findAddress(alloc, r.get("PublicIp"))
	if a == nil {
		return nil, errf(400, "InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", alloc)
	}
	var e *eni
	switch {
	case r.get("NetworkInterfaceId") != "":
		var ok bool
		if e, ok = s.w.enis[r.get("NetworkInterfaceId")]; !ok {
			return nil, errf(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", r.get("NetworkInterfaceId"))
		}
	case r.get("InstanceId") != "":
		var ae *apiError
		if e, ae = s.w.primaryENI(r.get("InstanceId")); ae != nil {
			return nil, ae
		}
	default:
		return nil, errf(400, "MissingParameter", "Either an instance ID or a network interface ID must be specified")
	}
	ip := r.get("PrivateIpAddress")
	if ip == "" {
		ip = e.IPs[0]
	}
	if !slices.Contains(e.IPs, ip) {
		return nil, errf(400, "InvalidParameterValue", "The private IP address %s is not assigned to interface %s", ip, e.ID)
	}
	set, allow := r.flag("AllowReassociation")
	if a.ENI != "" && (a.ENI != e.ID || a.PrivateIP != ip) && set && !allow {
		return nil, errf(400, "Resource.AlreadyAssociated", "resource %s is already associated with associate-id %s", a.AllocationID, a.AssociationID)
	}
	s.ids++
	a.ENI, a.PrivateIP, a.AssociationID = e.ID, ip, fmt.Sprintf("eipassoc-%08d", s.ids)
	return []node{T("return", "true"), T("associationId", a.AssociationID)}, nil
}

func (s *Sim) findAddress(alloc, public string) *address {
	for _, a := range s.w.addresses {
		if (alloc != "" && a.AllocationID == alloc) || (alloc == "" && a.PublicIP == public) {
			return a
		}
	}
	return nil
}

func (s *Sim) disassociateAddress(r req) ([]node, *apiError) {
	id, pub := r.get("AssociationId"), r.get("PublicIp")
	if id == "" && pub == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter AssociationId")
	}
	for _, a := range s.w.addresses {
		if a.ENI != "" && ((id != "" && a.AssociationID == id) || (id == "" && a.PublicIP == pub)) {
			a.ENI, a.PrivateIP, a.AssociationID = "", "", ""
			return []node{T("return", "true")}, nil
		}
	}
	return nil, errf(400, "InvalidAssociationID.NotFound", "The association ID '%s' does not exist", id)
}

func (s *Sim) describeAddresses(r req) ([]node, *apiError) {
	w := s.view("DescribeAddresses")
	ids, pubs := r.list("AllocationId"), r.list("PublicIp")
	if e := allKnown(w.addresses, ids, "InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist"); e != nil {
		return nil, e
	}
	f := r.filters()
	var items []node
	for _, k := range sortedKeys(w.addresses) {
		a := w.addresses[k]
		inst := ""
		if e, ok := w.enis[a.ENI]; ok {
			inst = e.Instance
		}
		if (len(ids) > 0 && !contains(ids, a.AllocationID)) || (len(pubs) > 0 && !contains(pubs, a.PublicIP)) ||
			!match(f, "allocation-id", a.AllocationID) || !match(f, "public-ip", a.PublicIP) ||
			!match(f, "instance-id", inst) || !match(f, "network-interface-id", a.ENI) {
			continue
		}
		kids := []node{T("publicIp", a.PublicIP), T("allocationId", a.AllocationID), T("domain", "vpc")}
		if a.ENI != "" {
			kids = append(kids, T("associationId", a.AssociationID), T("networkInterfaceId", a.ENI),
				T("networkInterfaceOwnerId", "123456789012"), T("privateIpAddress", a.PrivateIP))
			if inst != "" {
				kids = append(kids, T("instanceId", inst))
			}
		}
		items = append(items, E("item", kids...))
	}
	return []node{E("addressesSet", items...)}, nil
}

func (s *Sim) eniArg(r req) (*eni, *apiError) {
	id := r.get("NetworkInterfaceId")
	if id == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter NetworkInterfaceId")
	}
	e, ok := s.w.enis[id]
	if !ok {
		return nil, errf(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
	}
	return e, nil
}

func (s *Sim) assignPrivateIPs(r req) ([]node, *apiError) {
	e, ae := s.eniArg(r)
	if ae != nil {
		return nil, ae
	}
	ips := r.list("PrivateIpAddress")
	if len(ips) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter PrivateIpAddress")
	}
	_, allow := r.flag("AllowReassignment")
	for _, ip := range ips {
		if o := s.w.eniOwnerOf(ip); o != nil && o != e {
			if o.IPs[0] == ip {
				return nil, errf(400, "InvalidParameterValue", "Address %s is the primary address of %s", ip, o.ID)
			}
			if !allow {
				return nil, errf(400, "InvalidParameterValue", "Address %s is in use by %s", ip, o.ID)
			}
		}
	}
	var items []node
	for _, ip := range ips {
		if o := s.w.eniOwnerOf(ip); o != nil && o != e {
			o.IPs = slices.DeleteFunc(o.IPs, func(x string) bool { return x == ip })
			// An Elastic IP on the moved address moves with it.
			for _, a := range s.w.addresses {
				if a.ENI == o.ID && a.PrivateIP == ip {
					a.ENI = e.ID
				}
			}
		}
		if !slices.Contains(e.IPs, ip) {
			e.IPs = append(e.IPs, ip)
		}
		items = append(items, E("item", T("privateIpAddress", ip)))
	}
	return []node{T("return", "true"), T("networkInterfaceId", e.ID), E("assignedPrivateIpAddressesSet", items...)}, nil
}

func (s *Sim) unassignPrivateIPs(r req) ([]node, *apiError) {
	e, ae := s.eniArg(r)
	if ae != nil {
		return nil, ae
	}
	ips := r.list("PrivateIpAddress")
	if len(ips) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter PrivateIpAddress")
	}
	for _, ip := range ips {
		if !slices.Contains(e.IPs[1:], ip) {
			return nil, errf(400, "InvalidParameterValue", "Some of the specified addresses are not assigned to interface %s", e.ID)
		}
	}
	for _, ip := range ips {
		e.IPs = slices.DeleteFunc(e.IPs, func(x string) bool { return x == ip })
		for _, a := range s.w.addresses {
			if a.ENI == e.ID && a.PrivateIP == ip {
				a.ENI, a.PrivateIP, a.AssociationID = "", "", ""
			}
		}
	}
	return []node{T("return", "true")}, nil
}

func (s *Sim) describeENIs(r req) ([]node, *apiError) {
	w := s.view("DescribeNetworkInterfaces")
	ids := r.list("NetworkInterfaceId")
	if e := allKnown(w.enis, ids, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist"); e != nil {
		return nil, e
	}
	f := r.filters()
	var items []node
	for _, k := range sortedKeys(w.enis) {
		e := w.enis[k]
		if (len(ids) > 0 && !contains(ids, e.ID)) || !match(f, "network-interface-id", e.ID) ||
			!match(f, "attachment.instance-id", e.Instance) || !match(f, "addresses.private-ip-address", e.IPs...) {
			continue
		}
		kids := []node{T("networkInterfaceId", e.ID), T("subnetId", e.SubnetID), T("vpcId", e.VpcID),
			T("availabilityZone", w.instances[e.Instance].AZ), T("status", "in-use"), T("macAddress", e.MAC),
			T("privateIpAddress", e.IPs[0]), T("sourceDestCheck", "false"),
			E("attachment", T("attachmentId", "eni-attach-"+e.ID), T("deviceIndex", strconv.Itoa(slices.Index(w.instances[e.Instance].ENIs, e.ID))),
				T("status", "attached"), T("instanceId", e.Instance))}
		for _, a := range w.addresses {
			if a.ENI == e.ID && a.PrivateIP == e.IPs[0] {
				kids = append(kids, E("association", T("publicIp", a.PublicIP), T("allocationId", a.AllocationID), T("associationId", a.AssociationID)))
			}
		}
		kids = append(kids, E("privateIpAddressesSet", ipItems(e)...))
		items = append(items, E("item", kids...))
	}
	return []node{E("networkInterfaceSet", items...)}, nil
}

func (s *Sim) replaceRoute(r req) ([]node, *apiError) {
	t, ok := s.w.tables[r.get("RouteTableId")]
	if !ok {
		return nil, errf(400, "InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", r.get("RouteTableId"))
	}
	dest := r.get("DestinationCidrBlock")
	if dest == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter DestinationCidrBlock")
	}
	i := slices.IndexFunc(t.Routes, func(x route) bool { return x.Destination == dest })
	if i < 0 {
		return nil, errf(400, "InvalidRoute.NotFound", "no route with destination-cidr-block %s in route table %s", dest, t.ID)
	}
	var e *eni
	switch {
	case r.get("NetworkInterfaceId") != "":
		if e, ok = s.w.enis[r.get("NetworkInterfaceId")]; !ok {
			return nil, errf(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", r.get("NetworkInterfaceId"))
		}
	case r.get("InstanceId") != "":
		var ae *apiError
		if e, ae = s.w.primaryENI(r.get("InstanceId")); ae != nil {
			return nil, ae
		}
	case r.get("GatewayId") != "":
		t.Routes[i] = route{Destination: dest, GatewayID: r.get("GatewayId")}
		return []node{T("return", "true")}, nil
	default:
		return nil, errf(400, "MissingParameter", "The request must contain exactly one route target")
	}
	t.Routes[i] = route{Destination: dest, ENI: e.ID}
	return []node{T("return", "true")}, nil
}

func (s *Sim) describeRouteTables(r req) ([]node, *apiError) {
	w := s.view("DescribeRouteTables")
	ids := r.list("RouteTableId")
	if e := allKnown(w.tables, ids, "InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist"); e != nil {
		return nil, e
	}
	f := r.filters()
	var items []node
	for _, k := range sortedKeys(w.tables) {
		t := w.tables[k]
		dests := make([]string, len(t.Routes))
		for i, rt := range t.Routes {
			dests[i] = rt.Destination
		}
		if (len(ids) > 0 && !contains(ids, t.ID)) || !match(f, "route-table-id", t.ID) || !match(f, "route.destination-cidr-block", dests...) {
			continue
		}
		var routes []node
		for _, rt := range t.Routes {
			kids := []node{T("destinationCidrBlock", rt.Destination), T("state", "active"), T("origin", "CreateRoute")}
			if rt.GatewayID != "" {
				kids = append(kids, T("gatewayId", rt.GatewayID))
			}
			if e, ok := w.enis[rt.ENI]; ok {
				kids = append(kids, T("networkInterfaceId", e.ID), T("instanceId", e.Instance), T("instanceOwnerId", "123456789012"))
			}
			routes = append(routes, E("item", kids...))
		}
		items = append(items, E("item", T("routeTableId", t.ID), T("vpcId", t.VpcID), T("ownerId", "123456789012"), E("routeSet", routes...)))
	}
	return []node{E("routeTableSet", items...)}, nil
}

// allKnown is EC2's NotFound error for the first of ids missing from m.
func allKnown[V any](m map[string]V, ids []string, code, format string) *apiError {
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			return errf(400, code, format, id)
		}
	}
	return nil
}
