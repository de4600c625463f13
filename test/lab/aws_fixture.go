package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

// The EC2 scenario: the lab cluster (n1, n2, witness w) runs as three EC2
// instances of the standalone simulator (test/ec2sim/cmd/ec2sim), which runs
// in its own "cloud" host on the pub bridge. Each instance gets its own IMDS
// listener, so each agent learns its own instance id and ENI, and the
// simulator's stop hook powers the instance's namespace off: an EC2 fence
// really kills the node.
const (
	CloudIP      = "198.18.0.50" // the simulator's host on pub
	EC2APIPort   = 8900
	EC2Region    = "us-east-1"
	EIPAlloc     = "eipalloc-lab"    // the Elastic IP (group "eip")
	EIPPublic    = "198.19.0.100"    // its public address (never routed: simulated)
	SecondaryIP  = "198.18.0.100"    // the secondary private IP (group "sip")
	RouteTable   = "rtb-lab"         // the route table (group "route")
	OverlayDest  = "198.18.100.1/32" // the overlay destination in RouteTable
	overlayIP    = "198.18.100.1"
	imdsBasePort = 8910
)

// EC2InstanceID is the simulated instance of a lab node ("i-n1").
func EC2InstanceID(node string) string { return "i-" + node }

// EC2ENI is the primary ENI of a lab node's instance ("eni-n1").
func EC2ENI(node string) string { return "eni-" + node }

// EC2Cluster is a lab cluster whose nodes are simulated EC2 instances.
type EC2Cluster struct {
	*Cluster
	Cloud *Host // runs the simulator
	Sim   *Proc
	API   string // EC2 endpoint, http://CloudIP:EC2APIPort

	imds map[string]string // node -> its IMDS endpoint
}

// AWSFenceHCL is the fence devices for n1 and n2 (aws, stopping the other's
// instance); StartEC2Cluster adds `fence = ["<node>-ec2"]` to both node blocks.
func AWSFenceHCL() string {
	var b strings.Builder
	for _, n := range []string{"n1", "n2"} {
		fmt.Fprintf(&b, "fence \"aws\" \"%s-ec2\" {\n  instance_id = %q\n  region      = %q\n  timeout     = \"30s\"\n}\n\n",
			n, EC2InstanceID(n), EC2Region)
	}
	return b.String()
}

// AWSGroupsHCL is up to three groups preferring n1, one per AWS IP resource:
// "eip" (awseip), "sip" (awsip on eth0) and "route" (awsroute on eth0).
func AWSGroupsHCL(groups ...string) string {
	body := map[string]string{
		"eip":   fmt.Sprintf("  resource \"awseip\" \"eip1\" {\n    allocation_id    = %q\n    monitor_interval = \"2s\"\n  }\n", EIPAlloc),
		"sip":   fmt.Sprintf("  resource \"awsip\" \"sip1\" {\n    address          = %q\n    interface        = \"eth0\"\n    monitor_interval = \"2s\"\n  }\n", SecondaryIP),
		"route": fmt.Sprintf("  resource \"awsroute\" \"route1\" {\n    route_tables     = [%q]\n    destination      = %q\n    interface        = \"eth0\"\n    monitor_interval = \"2s\"\n  }\n", RouteTable, OverlayDest),
	}
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "group %q {\n  prefer   = \"n1\"\n  failback = false\n%s}\n\n", g, body[g])
	}
	return b.String()
}

// StartEC2Cluster starts the simulator in host "cloud" with one instance per
// cluster node, then the cluster: spec.Extra should hold the groups (see
// AWSGroupsHCL); the aws fence devices are added. knobs are the simulator's
// initial knobs.
func StartEC2Cluster(l *Lab, spec ClusterSpec, knobs ec2sim.Knobs) *EC2Cluster {
	tb := l.tb
	tb.Helper()
	spec.Extra = AWSFenceHCL() + spec.Extra
	e := &EC2Cluster{Cloud: l.AddClient("cloud", CloudIP), API: fmt.Sprintf("http://%s:%d", CloudIP, EC2APIPort),
		imds: map[string]string{}}
	e.Cluster = prepareCluster(l, spec, Vigil(tb))
	for _, n := range []string{"n1", "n2"} {
		e.addNodeFence(n, n+"-ec2")
	}
	cfg := e.simConfig(knobs)
	path := filepath.Join(l.dir, "ec2sim.json")
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err == nil {
		err = os.WriteFile(path, raw, 0o600)
	}
	if err != nil {
		tb.Fatalf("lab: ec2sim config: %v", err)
	}
	e.Sim = e.Cloud.Start("ec2sim", Build(tb, "./test/ec2sim/cmd/ec2sim"), "-config", path)
	if err := poll(20*time.Second, 50*time.Millisecond, func() error {
		if e.Sim.Exited() {
			return fmt.Errorf("ec2sim exited: %v", e.Sim.Wait())
		}
		_, err := e.simHTTP("GET", "/_sim/knobs", "")
		return err
	}); err != nil {
		tb.Fatalf("lab: ec2sim not serving: %v\n%s", err, tail(e.Sim.Log, 20))
	}
	for _, n := range e.Nodes {
		e.StartNode(n.Name)
	}
	return e
}

// addNodeFence adds `fence = [device]` to node's block in every config.
func (e *EC2Cluster) addNodeFence(node, device string) {
	tb := e.Lab.tb
	head := fmt.Sprintf("node %q {\n", node)
	for _, n := range e.Nodes {
		raw, err := os.ReadFile(n.Config)
		if err != nil {
			tb.Fatalf("lab: %v", err)
		}
		if !strings.Contains(string(raw), head) {
			tb.Fatalf("lab: %s has no %q block", n.Config, strings.TrimSpace(head))
		}
		out := strings.Replace(string(raw), head, head+fmt.Sprintf("  fence     = [%q]\n", device), 1)
		if err := os.WriteFile(n.Config, []byte(out), 0o600); err != nil {
			tb.Fatalf("lab: %v", err)
		}
	}
}

// simConfig is the simulated world: one running instance per node whose
// primary ENI holds the node's pub address, the unassociated Elastic IP and
// a route table whose overlay route points at n1. The stop hook powers the
// stopped instance's namespace off.
func (e *EC2Cluster) simConfig(knobs ec2sim.Knobs) ec2sim.Config {
	cfg := ec2sim.Config{
		Region:    EC2Region,
		Listen:    fmt.Sprintf("%s:%d", CloudIP, EC2APIPort),
		Addresses: []ec2sim.AddressConfig{{AllocationID: EIPAlloc, PublicIP: EIPPublic}},
		RouteTables: []ec2sim.RouteTableConfig{{ID: RouteTable, VpcID: "vpc-lab",
			Routes: []ec2sim.RouteConfig{{Destination: "198.18.0.0/24"}, {Destination: OverlayDest, ENI: EC2ENI("n1")}}}},
		Knobs: knobs,
		Hooks: ec2sim.HookConfig{OnStopped: e.writeStopHook()},
	}
	for i, n := range e.Nodes {
		listen := fmt.Sprintf("%s:%d", CloudIP, imdsBasePort+i+1)
		e.imds[n.Name] = "http://" + listen
		cfg.Instances = append(cfg.Instances, ec2sim.InstanceConfig{
			ID: EC2InstanceID(n.Name), AZ: EC2Region + "a", IMDSListen: listen, Tags: map[string]string{"Name": n.Name},
			ENIs: []ec2sim.ENIConfig{{ID: EC2ENI(n.Name), MAC: pinnedMAC(net.ParseIP(n.Host.IP(Pub))), SubnetID: "subnet-lab",
				VpcID: "vpc-lab", PrivateIPs: []string{n.Host.IP(Pub)}}},
		})
	}
	return cfg
}

// writeStopHook writes the simulator's on_stopped hook: the lab's power-off
// (freeze every pid of the instance's namespace, delete its veths, kill).
// It runs inside the cloud namespace; `ip netns`/`ip -n` reach the others.
// A node the test already powered off has nothing left to kill: no error.
func (e *EC2Cluster) writeStopHook() string {
	path := filepath.Join(e.Lab.dir, "ec2-stop-hook.sh")
	script := fmt.Sprintf(`#!/bin/sh
# ec2sim on_stopped hook: power the stopped instance's lab namespace off.
node=${INSTANCE_ID#i-}
case "$node" in ''|*[!a-z0-9]*) echo "unknown instance $INSTANCE_ID"; exit 1;; esac
ns=%[1]s-$node
pids=$(ip netns pids "$ns" 2>/dev/null)
[ -n "$pids" ] && kill -STOP $pids 2>/dev/null
# Cables first: the frozen processes' sockets must not send FIN/RST when
# they die (a stopped instance sends nothing).
for link in %[2]s %[3]s; do
	ip -n %[4]s link del "$node-$link" 2>/dev/null
done
i=0
while [ -n "$pids" ]; do
	kill -KILL $pids 2>/dev/null
	i=$((i+1))
	[ $i -gt 500 ] && { echo "pids survive SIGKILL: $pids"; exit 1; }
	sleep 0.01
	pids=$(ip netns pids "$ns" 2>/dev/null)
done
exit 0
`, e.Lab.prefix, Pub, HB, e.Lab.sw)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		e.Lab.tb.Fatalf("lab: %v", err)
	}
	return path
}

// AWSEnv is the environment that points a node's AWS SDK at the simulator:
// the EC2 endpoint, the node's own IMDS (instance identity and role
// credentials), the region, and no shared config files.
func (e *EC2Cluster) AWSEnv(node string) []string {
	none := filepath.Join(e.Lab.dir, "no-aws-config")
	return []string{
		"AWS_ENDPOINT_URL_EC2=" + e.API,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + e.imds[node],
		"AWS_REGION=" + EC2Region,
		"AWS_CONFIG_FILE=" + none,
		"AWS_SHARED_CREDENTIALS_FILE=" + none,
	}
}

// StartNode starts node's agent with AWSEnv (Cluster.Start cannot set env).
func (e *EC2Cluster) StartNode(name string) {
	e.Lab.tb.Helper()
	n := e.Node(name)
	if e.Running(name) {
		e.Lab.tb.Fatalf("lab: agent %s already running", name)
	}
	argv := append([]string{"env"}, e.AWSEnv(name)...)
	argv = append(argv, e.Bin, "agent", "-config", n.Config)
	n.proc = n.Host.Start("vigil", argv...)
}

// PowerOn boots a powered-off (or fenced) node again: its instance reads
// running in the simulator (no hooks), its links come back, its agent starts.
func (e *EC2Cluster) PowerOn(name string) {
	e.Lab.tb.Helper()
	if err := e.SetInstanceState(name, "running"); err != nil {
		e.Lab.tb.Fatalf("lab: %v", err)
	}
	e.Node(name).Host.PowerOn()
	e.StartNode(name)
}

// simHTTP calls the simulator's HTTP API from the cloud host (the test
// process lives outside the lab's namespaces).
func (e *EC2Cluster) simHTTP(method, path, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := []string{"curl", "-sS", "-f", "--max-time", "5", "-X", method}
	if body != "" {
		argv = append(argv, "-H", "Content-Type: application/json", "--data-binary", body)
	}
	out, err := e.Cloud.RunContext(ctx, append(argv, e.API+path)...)
	return []byte(out), err
}

// SimLog is the simulator's event log (GET /_sim/log).
func (e *EC2Cluster) SimLog() ([]ec2sim.Event, error) {
	out, err := e.simHTTP("GET", "/_sim/log", "")
	if err != nil {
		return nil, err
	}
	var evs []ec2sim.Event
	if err := json.Unmarshal(out, &evs); err != nil {
		return nil, fmt.Errorf("sim log: %w", err)
	}
	return evs, nil
}

// SetKnobs applies f to the simulator's current knobs.
func (e *EC2Cluster) SetKnobs(f func(*ec2sim.Knobs)) {
	e.Lab.tb.Helper()
	out, err := e.simHTTP("GET", "/_sim/knobs", "")
	var k ec2sim.Knobs
	if err == nil {
		err = json.Unmarshal(out, &k)
	}
	if err != nil {
		e.Lab.tb.Fatalf("lab: sim knobs: %v", err)
	}
	f(&k)
	if k.Errors == nil {
		k.Errors = map[string]ec2sim.InjectedError{}
	}
	raw, _ := json.Marshal(k)
	if _, err := e.simHTTP("POST", "/_sim/knobs", string(raw)); err != nil {
		e.Lab.tb.Fatalf("lab: set sim knobs: %v", err)
	}
}

// SetInstanceState forces node's instance state in the simulator (no hooks).
func (e *EC2Cluster) SetInstanceState(node, state string) error {
	_, err := e.simHTTP("POST", "/_sim/instances/"+EC2InstanceID(node)+"/state?state="+state, "")
	return err
}

// SimEvents filters a log: API calls (or "state") of action with the given
// params, from sequence number from on.
func SimEvents(log []ec2sim.Event, from int, action string, params map[string]string) []ec2sim.Event {
	var out []ec2sim.Event
next:
	for _, ev := range log {
		if ev.Seq < from || ev.Action != action {
			continue
		}
		for k, v := range params {
			if ev.Params[k] != v {
				continue next
			}
		}
		out = append(out, ev)
	}
	return out
}

// FirstSimEvent is the first successful event of SimEvents, ok false if none.
func FirstSimEvent(log []ec2sim.Event, from int, action string, params map[string]string) (ec2sim.Event, bool) {
	for _, ev := range SimEvents(log, from, action, params) {
		if ev.Result == "ok" {
			return ev, true
		}
	}
	return ec2sim.Event{}, false
}

// LastSimSeq is the sequence number of the log's last event (0 if empty).
func LastSimSeq(log []ec2sim.Event) int {
	if len(log) == 0 {
		return 0
	}
	return log[len(log)-1].Seq
}
