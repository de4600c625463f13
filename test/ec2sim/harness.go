package ec2sim

import (
	"net/http/httptest"
	"testing"
)

// Harness is a simulator served on httptest listeners: the EC2 API at URL and
// one IMDS endpoint per instance.
type Harness struct {
	*Sim
	URL  string            // EC2 API base endpoint
	IMDS map[string]string // instance id -> IMDS endpoint URL
}

// Serve starts a simulator for a test; everything is closed in t.Cleanup.
func Serve(t testing.TB, cfg Config, hooks Hooks) *Harness {
	t.Helper()
	sim, err := New(cfg, hooks)
	if err != nil {
		t.Fatalf("ec2sim: %v", err)
	}
	api := httptest.NewServer(sim)
	h := &Harness{Sim: sim, URL: api.URL, IMDS: map[string]string{}}
	t.Cleanup(func() {
		api.Close()
		sim.Close()
	})
	for _, in := range cfg.Instances {
		s := httptest.NewServer(sim.IMDSHandler(in.ID))
		t.Cleanup(s.Close)
		h.IMDS[in.ID] = s.URL
	}
	return h
}

// PairConfig is a small world for tests: two running instances i-a and i-b
// in one AZ (ENIs eni-a / eni-b, MACs 02:00:00:00:00:0a / 0b, primary IPs
// 198.18.0.10 / .11), Elastic IP eipalloc-1 (198.19.0.100) associated with
// i-a, route table rtb-1 with 198.18.100.1/32 via eni-a, and volume vol-1
// attached to i-a as /dev/sdf.
func PairConfig() Config {
	return Config{
		Region: "us-east-1",
		Instances: []InstanceConfig{
			{ID: "i-a", AZ: "us-east-1a", ENIs: []ENIConfig{{ID: "eni-a", MAC: "02:00:00:00:00:0a",
				SubnetID: "subnet-1", VpcID: "vpc-1", PrivateIPs: []string{"198.18.0.10"}}}},
			{ID: "i-b", AZ: "us-east-1a", ENIs: []ENIConfig{{ID: "eni-b", MAC: "02:00:00:00:00:0b",
				SubnetID: "subnet-1", VpcID: "vpc-1", PrivateIPs: []string{"198.18.0.11"}}}},
		},
		Addresses:   []AddressConfig{{AllocationID: "eipalloc-1", PublicIP: "198.19.0.100", ENI: "eni-a"}},
		RouteTables: []RouteTableConfig{{ID: "rtb-1", VpcID: "vpc-1", Routes: []RouteConfig{{Destination: "198.18.100.1/32", ENI: "eni-a"}}}},
		Volumes:     []VolumeConfig{{ID: "vol-1", AZ: "us-east-1a", InstanceID: "i-a", Device: "/dev/sdf"}},
	}
}
