package configs

import (
	"strings"
	"testing"
	"time"
)

const twoNodeWitness = "node \"witness\" {\n  address   = \"198.18.0.13:7300\"\n  heartbeat = \"198.18.1.13:7301\"\n  witness   = true\n}\n"

func TestTwoNodeNeedsAFenceDeviceForEachNode(t *testing.T) {
	lb2Fence := "  fence_level {\n    devices = [\"lb2-bmc\"]\n  }\n  fence_level {\n    devices = [\"lb2-ec2\", \"lb2-exec\"]\n  }\n"
	text := applyEdits(t, validConfig, []edit{
		{twoNodeWitness, ""},
		{`  timing          = "fast"`, "  timing          = \"fast\"\n  two_node        = true"},
		{lb2Fence, ""},
	})
	_, err := loadBuiltin(setup(t, text))
	if err == nil {
		t.Fatal("two_node = true without a fence device for lb2 was accepted")
	}
	if !strings.Contains(err.Error(), "node.lb2") || !strings.Contains(err.Error(), "needs a fence device for every node") {
		t.Errorf("error does not name lb2's missing fence device:\n%v", err)
	}
	if strings.Contains(err.Error(), "node.lb1:") {
		t.Errorf("lb1 has a fence device but is reported:\n%v", err)
	}
}

func TestTwoNodeDefaultsAndOverrides(t *testing.T) {
	base := []edit{{twoNodeWitness, ""}}
	c, err := loadBuiltin(setup(t, applyEdits(t, validConfig, append(base,
		edit{`  timing          = "fast"`, "  timing          = \"fast\"\n  two_node        = true"}))))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster.WaitForAll || c.Cluster.PriorityFenceDelay != DefaultPriorityFenceDelay {
		t.Errorf("defaults: wait_for_all %v, priority_fence_delay %s", c.Cluster.WaitForAll, c.Cluster.PriorityFenceDelay)
	}
	noWait := edit{`  timing          = "fast"`, "  timing          = \"fast\"\n  two_node = true\n  wait_for_all = false\n  priority_fence_delay = \"8s\""}
	_, err = loadBuiltin(setup(t, applyEdits(t, validConfig, append(base, noWait))))
	if err == nil || !strings.Contains(err.Error(), "fence.lb1-bmc.action") || !strings.Contains(err.Error(), "fence loop") {
		t.Errorf("two_node, wait_for_all = false and a reboot device: %v", err)
	}
	c, err = loadBuiltin(setup(t, applyEdits(t, validConfig, append(base, noWait,
		edit{"  action        = \"reboot\"\n", ""}))))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.WaitForAll || c.Cluster.PriorityFenceDelay != 8*time.Second {
		t.Errorf("overrides: wait_for_all %v, priority_fence_delay %s", c.Cluster.WaitForAll, c.Cluster.PriorityFenceDelay)
	}
}

func TestTwoNodeWithArbitratorNeedsNoFenceDevice(t *testing.T) {
	lb2Fence := "  fence_level {\n    devices = [\"lb2-bmc\"]\n  }\n  fence_level {\n    devices = [\"lb2-ec2\", \"lb2-exec\"]\n  }\n"
	base := []edit{{twoNodeWitness, ""}, {lb2Fence, ""}}
	arb := "  timing          = \"fast\"\n  two_node = true\n  arbitrator {\n    address = \"198.18.0.30:7310\"\n    ca_file = \"arb-ca.pem\"\n  }"
	c, err := loadBuiltin(setup(t, applyEdits(t, validConfig, append(base, edit{`  timing          = "fast"`, arb}))))
	if err != nil {
		t.Fatalf("two_node with an arbitrator and no fence device for lb2: %v", err)
	}
	if a := c.Cluster.Arbitrator; a.Address != "198.18.0.30:7310" || !strings.HasSuffix(a.CAFile, "/arb-ca.pem") {
		t.Errorf("arbitrator %+v", a)
	}
	noCA := strings.Replace(arb, "    ca_file = \"arb-ca.pem\"\n", "", 1)
	_, err = loadBuiltin(setup(t, applyEdits(t, validConfig, append(base, edit{`  timing          = "fast"`, noCA}))))
	if err == nil || !strings.Contains(err.Error(), "ca_file is required") {
		t.Errorf("arbitrator without ca_file: %v", err)
	}
}
