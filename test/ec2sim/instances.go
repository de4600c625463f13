package ec2sim

import (
	"sort"
	"strconv"
	"strings"
)

func checkInstanceIDs(w *world, ids []string) *apiError {
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") {
			return errf(400, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		if _, ok := w.instances[id]; !ok {
			return errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	return nil
}

func stateNode(name, st string) node {
	return E(name, T("code", strconv.Itoa(stateCodes[st])), T("name", st))
}

func (s *Sim) describeInstances(r req) ([]node, *apiError) {
	w := s.view("DescribeInstances")
	ids := r.list("InstanceId")
	if e := checkInstanceIDs(w, ids); e != nil {
		return nil, e
	}
	f := r.filters()
	var items []node
	for _, id := range sortedKeys(w.instances) {
		in := w.instances[id]
		if len(ids) > 0 && !contains(ids, id) {
			continue
		}
		if !match(f, "instance-id", id) || !match(f, "instance-state-name", in.State) {
			continue
		}
		tagOK := true
		for k := range f {
			if tk, ok := strings.CutPrefix(k, "tag:"); ok && !match(f, k, in.Tags[tk]) {
				tagOK = false
			}
		}
		if !tagOK {
			continue
		}
		items = append(items, E("item", T("reservationId", "r-"+strings.TrimPrefix(id, "i-")),
			T("ownerId", "123456789012"), E("instancesSet", s.instanceNode(w, in))))
	}
	return []node{E("reservationSet", items...)}, nil
}

func (s *Sim) instanceNode(w *world, in *instance) node {
	kids := []node{T("instanceId", in.ID), T("imageId", "ami-00000000"), stateNode("instanceState", in.State),
		T("instanceType", "t3.micro"), E("placement", T("availabilityZone", in.AZ), T("tenancy", "default"))}
	var enis []node
	for i, id := range in.ENIs {
		e := w.enis[id]
		if i == 0 {
			kids = append(kids, T("privateIpAddress", e.IPs[0]), T("subnetId", e.SubnetID), T("vpcId", e.VpcID))
		}
		enis = append(enis, E("item", T("networkInterfaceId", e.ID), T("subnetId", e.SubnetID),
			T("vpcId", e.VpcID), T("macAddress", e.MAC), T("privateIpAddress", e.IPs[0]), T("status", "in-use"),
			E("attachment", T("attachmentId", "eni-attach-"+e.ID), T("deviceIndex", strconv.Itoa(i)), T("status", "attached")),
			E("privateIpAddressesSet", ipItems(e)...)))
	}
	kids = append(kids, E("networkInterfaceSet", enis...))
	var tags []node
	keys := make([]string, 0, len(in.Tags))
	for k := range in.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags = append(tags, E("item", T("key", k), T("value", in.Tags[k])))
	}
	return E("item", append(kids, E("tagSet", tags...))...)
}

func ipItems(e *eni) []node {
	var out []node
	for i, ip := range e.IPs {
		out = append(out, E("item", T("privateIpAddress", ip), T("primary", strconv.FormatBool(i == 0))))
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Sim) stopInstances(r req) ([]node, *apiError) {
	ids := r.list("InstanceId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	if e := checkInstanceIDs(s.w, ids); e != nil {
		return nil, e
	}
	for _, id := range ids {
		if st := s.w.instances[id].State; st == "terminated" || st == "shutting-down" {
			return nil, errf(400, "IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", id)
		}
	}
	_, force := r.flag("Force")
	_, skip := r.flag("SkipOsShutdown")
	var items []node
	for _, id := range ids {
		in := s.w.instances[id]
		prev := in.State
		switch in.State {
		case "running", "pending":
			in.State = "stopping"
			in.forced = force || skip
			if !s.stuckLocked(in) {
				s.scheduleStopLocked(in)
			}
		case "stopping":
			if (force || skip) && !in.forced {
				// A forced stop overrides a slow or stuck graceful one.
				in.forced = true
				if !s.stuckLocked(in) {
					s.scheduleStopLocked(in)
				}
			}
		}
		items = append(items, E("item", T("instanceId", id), stateNode("currentState", in.State), stateNode("previousState", prev)))
	}
	return []node{E("instancesSet", items...)}, nil
}

func (s *Sim) startInstances(r req) ([]node, *apiError) {
	ids := r.list("InstanceId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	if e := checkInstanceIDs(s.w, ids); e != nil {
		return nil, e
	}
	for _, id := range ids {
		if st := s.w.instances[id].State; st != "stopped" && st != "running" && st != "pending" {
			return nil, errf(400, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", id)
		}
	}
	var items []node
	for _, id := range ids {
		in := s.w.instances[id]
		prev := in.State
		if in.State == "stopped" {
			in.State = "pending"
			s.scheduleStartLocked(in)
		}
		items = append(items, E("item", T("instanceId", id), stateNode("currentState", in.State), stateNode("previousState", prev)))
	}
	return []node{E("instancesSet", items...)}, nil
}
