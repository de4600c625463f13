package ec2sim_test

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := ec2sim.LoadConfig("example.json")
	must(t, err)
	if time.Duration(cfg.Knobs.ForceStopDelay) != 300*time.Millisecond || cfg.Instances[1].IMDSListen != "127.0.0.1:8912" {
		t.Fatalf("parsed %+v", cfg)
	}
	s, err := ec2sim.New(cfg, ec2sim.Hooks{})
	must(t, err)
	defer s.Close()
	if s.AddressENI("eipalloc-1") != "eni-0lb1" || s.InstanceState("i-0lb2") != "running" {
		t.Fatal("world not built from config")
	}
	cfg.Addresses[0].ENI = "eni-missing"
	if _, err := ec2sim.New(cfg, ec2sim.Hooks{}); err == nil {
		t.Fatal("accepted an address on an unknown ENI")
	}
}
