package ec2sim

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Instance state codes, as EC2 reports them.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32,
	"terminated": 48, "stopping": 64, "stopped": 80}

type instance struct {
	ID    string
	AZ    string
	State string
	Tags  map[string]string
	ENIs  []string // ENI ids, index = device index
	// forced records that the pending stop was a Force/SkipOsShutdown stop.
	forced bool
}

type eni struct {
	ID       string
	MAC      string
	SubnetID string
	VpcID    string
	Instance string   // attached instance
	IPs      []string // [0] is primary
}

type address struct {
	AllocationID  string
	PublicIP      string
	AssociationID string
	ENI           string
	PrivateIP     string
}

type route struct {
	Destination string
	ENI         string
	GatewayID   string
}

type routeTable struct {
	ID     string
	VpcID  string
	Routes []route
}

type volume struct {
	ID         string
	AZ         string
	Status     string // available | in-use
	InstanceID string
	Device     string
	Attach     string // attaching | attached | detaching
	AttachTime time.Time
}

// world is the whole simulated state; Describe* read either it or a stale copy.
type world struct {
	instances map[string]*instance
	enis      map[string]*eni
	addresses map[string]*address // by allocation id
	tables    map[string]*routeTable
	volumes   map[string]*volume
}

func (w *world) clone() *world {
	c := &world{instances: map[string]*instance{}, enis: map[string]*eni{},
		addresses: map[string]*address{}, tables: map[string]*routeTable{}, volumes: map[string]*volume{}}
	for k, v := range w.instances {
		n := *v
		n.Tags = maps.Clone(v.Tags)
		n.ENIs = slices.Clone(v.ENIs)
		c.instances[k] = &n
	}
	for k, v := range w.enis {
		n := *v
		n.IPs = slices.Clone(v.IPs)
		c.enis[k] = &n
	}
	for k, v := range w.addresses {
		n := *v
		c.addresses[k] = &n
	}
	for k, v := range w.tables {
		n := *v
		n.Routes = slices.Clone(v.Routes)
		c.tables[k] = &n
	}
	for k, v := range w.volumes {
		n := *v
		c.volumes[k] = &n
	}
	return c
}

func newWorld(cfg Config) (*world, error) {
	w := &world{instances: map[string]*instance{}, enis: map[string]*eni{},
		addresses: map[string]*address{}, tables: map[string]*routeTable{}, volumes: map[string]*volume{}}
	for _, ic := range cfg.Instances {
		if ic.ID == "" {
			return nil, fmt.Errorf("instance without id")
		}
		st := ic.State
		if st == "" {
			st = "running"
		}
		if _, ok := stateCodes[st]; !ok {
			return nil, fmt.Errorf("instance %s: bad state %q", ic.ID, st)
		}
		in := &instance{ID: ic.ID, AZ: ic.AZ, State: st, Tags: maps.Clone(ic.Tags)}
		if in.AZ == "" {
			in.AZ = cfg.Region + "a"
		}
		for _, ec := range ic.ENIs {
			if ec.ID == "" || len(ec.PrivateIPs) == 0 {
				return nil, fmt.Errorf("instance %s: eni needs id and private_ips", ic.ID)
			}
			w.enis[ec.ID] = &eni{ID: ec.ID, MAC: ec.MAC, SubnetID: ec.SubnetID, VpcID: ec.VpcID,
				Instance: ic.ID, IPs: slices.Clone(ec.PrivateIPs)}
			in.ENIs = append(in.ENIs, ec.ID)
		}
		w.instances[ic.ID] = in
	}
	for i, ac := range cfg.Addresses {
		a := &address{AllocationID: ac.AllocationID, PublicIP: ac.PublicIP}
		if ac.ENI != "" {
			e, ok := w.enis[ac.ENI]
			if !ok {
				return nil, fmt.Errorf("address %s: unknown eni %s", ac.AllocationID, ac.ENI)
			}
			a.ENI, a.PrivateIP = e.ID, ac.PrivateIP
			if a.PrivateIP == "" {
				a.PrivateIP = e.IPs[0]
			}
			a.AssociationID = fmt.Sprintf("eipassoc-cfg%d", i)
		}
		w.addresses[a.AllocationID] = a
	}
	for _, tc := range cfg.RouteTables {
		t := &routeTable{ID: tc.ID, VpcID: tc.VpcID}
		for _, rc := range tc.Routes {
			t.Routes = append(t.Routes, route(rc))
		}
		w.tables[t.ID] = t
	}
	for _, vc := range cfg.Volumes {
		v := &volume{ID: vc.ID, AZ: vc.AZ, Status: "available"}
		if v.AZ == "" {
			v.AZ = cfg.Region + "a"
		}
		if vc.InstanceID != "" {
			v.Status, v.InstanceID, v.Device, v.Attach, v.AttachTime = "in-use", vc.InstanceID, vc.Device, "attached", time.Now()
		}
		w.volumes[v.ID] = v
	}
	return w, nil
}

// primaryENI returns the instance's ENI for InstanceId-targeted calls.
func (w *world) primaryENI(instanceID string) (*eni, *apiError) {
	in, ok := w.instances[instanceID]
	if !ok {
		return nil, errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", instanceID)
	}
	if len(in.ENIs) != 1 {
		return nil, errf(400, "InvalidInstanceID", "There are multiple interfaces attached to instance '%s'. Please specify an interface ID for the operation instead.", instanceID)
	}
	return w.enis[in.ENIs[0]], nil
}

// eniOwnerOf finds the ENI holding a private IP (any ENI in the world).
func (w *world) eniOwnerOf(ip string) *eni {
	for _, e := range w.enis {
		if slices.Contains(e.IPs, ip) {
			return e
		}
	}
	return nil
}
