package lab

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/test/ec2sim"
)

var awsGroups = []string{"eip", "sip", "route"}

// TestEC2Failover runs n1, n2 and the witness as instances of the EC2
// simulator, with an Elastic IP, a secondary private IP and a route-table
// overlay IP in three groups preferring n1, and aws fence devices. Power-off
// of the active node must make the cluster stop its instance through the EC2
// API (the simulator's stop hook powers the namespace off) and only then
// move the three addresses to the survivor; it must still work with API
// throttling and eventually consistent reads, and say in status and history
// what it did and how long the fence took.
func TestEC2Failover(t *testing.T) {
	l := New(t, "vlaws")
	e := StartEC2Cluster(l, ClusterSpec{Preset: "fast", Extra: AWSGroupsHCL(awsGroups...)}, ec2sim.Knobs{
		Latency:        ec2sim.Duration(20 * time.Millisecond),
		StopDelay:      ec2sim.Duration(2 * time.Second),
		ForceStopDelay: ec2sim.Duration(300 * time.Millisecond),
		StartDelay:     ec2sim.Duration(time.Second),
	})
	e.WaitHealthy(60 * time.Second)
	for _, g := range awsGroups {
		e.SettleOn(g, "n1", 60*time.Second) // the first node to join may have taken them
	}
	awsWaitGroups(t, e, "n1", 60*time.Second)
	log, err := e.SimLog()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := FirstSimEvent(log, 0, "AssociateAddress", map[string]string{"AllocationId": EIPAlloc, "NetworkInterfaceId": EC2ENI("n1")}); !ok {
		t.Fatalf("the Elastic IP was never associated with n1's ENI; sim log:\n%s", awsLogText(log, 0))
	}
	if !e.Node("n1").Host.HasAddr(SecondaryIP) || !e.Node("n1").Host.HasAddr(overlayIP) {
		t.Fatalf("n1 lacks %s or %s locally", SecondaryIP, overlayIP)
	}

	t.Run("PowerOffActiveFencesThroughAPIThenMovesIPs", func(t *testing.T) {
		awsFailover(t, e, "n1", "n2")
	})

	t.Run("ThrottledAndStaleReadsStillFailOver", func(t *testing.T) {
		e.PowerOn("n1")
		e.WaitHealthy(60 * time.Second)
		e.SetKnobs(func(k *ec2sim.Knobs) {
			k.ThrottleEvery = 3
			k.StaleReads = 2
		})
		defer e.SetKnobs(func(k *ec2sim.Knobs) { k.ThrottleEvery, k.StaleReads = 0, 0 })
		from, rec := awsFailover(t, e, "n2", "n1")
		log, err := e.SimLog()
		if err != nil {
			t.Fatal(err)
		}
		throttled := 0
		for _, ev := range log {
			if ev.Seq >= from && ev.Result == "RequestLimitExceeded" {
				throttled++
			}
		}
		if throttled == 0 {
			t.Errorf("no call was throttled during the failover; the knob did not bite:\n%s", awsLogText(log, from))
		}
		t.Logf("%d calls throttled during the failover; fence of n2 took %v", throttled, rec.Duration)
	})
}

// awsFailover powers the active node victim off and checks that the cluster
// moves every AWS group to survivor, that the simulator's log shows the
// victim's instance stopped before any address moved to the survivor's ENI,
// and that status and history record the fence. It returns the first log
// sequence number of the failover and the fence record.
func awsFailover(t *testing.T, e *EC2Cluster, victim, survivor string) (int, api.FenceRecord) {
	t.Helper()
	awsWaitGroups(t, e, victim, 60*time.Second)
	before, err := e.SimLog()
	if err != nil {
		t.Fatal(err)
	}
	from := LastSimSeq(before) + 1
	start := time.Now()
	e.PowerOff(victim)
	reasons := awsWaitGroups(t, e, survivor, 90*time.Second)
	took := time.Since(start)

	log, err := e.SimLog()
	if err != nil {
		t.Fatal(err)
	}
	text := awsLogText(log, from)
	inst := EC2InstanceID(victim)
	stop, ok := FirstSimEvent(log, from, "StopInstances", map[string]string{"InstanceId.1": inst})
	if !ok {
		t.Fatalf("no successful StopInstances of %s after the power-off; sim log:\n%s", inst, text)
	}
	if stop.Params["Force"] != "true" || stop.Params["SkipOsShutdown"] != "true" {
		t.Errorf("StopInstances %s without Force and SkipOsShutdown: %v", inst, stop.Params)
	}
	stopped, ok := FirstSimEvent(log, from, "state", map[string]string{"InstanceId": inst, "To": "stopped"})
	if !ok {
		t.Fatalf("%s never reached stopped; sim log:\n%s", inst, text)
	}
	eni := EC2ENI(survivor)
	moves := []struct {
		action string
		params map[string]string
	}{
		{"AssociateAddress", map[string]string{"AllocationId": EIPAlloc, "NetworkInterfaceId": eni}},
		{"AssignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": eni}},
		{"ReplaceRoute", map[string]string{"RouteTableId": RouteTable, "NetworkInterfaceId": eni}},
	}
	for _, m := range moves {
		ev, ok := FirstSimEvent(log, from, m.action, m.params)
		if !ok {
			t.Errorf("no successful %s %v after the power-off; sim log:\n%s", m.action, m.params, text)
			continue
		}
		// Any attempt, even a failed one, before the stop confirmation
		// would break invariant 2.
		for _, att := range SimEvents(log, from, m.action, m.params) {
			if att.Seq < stopped.Seq {
				t.Errorf("%s #%d (%s) came before %s read stopped (#%d)", m.action, att.Seq, att.Result, inst, stopped.Seq)
			}
		}
		if !(stop.Seq < stopped.Seq && stopped.Seq < ev.Seq) {
			t.Errorf("order: StopInstances #%d, stopped #%d, %s #%d; want stop, stopped, then the move", stop.Seq, stopped.Seq, m.action, ev.Seq)
		}
	}
	h := e.Node(survivor).Host
	for _, ip := range []string{SecondaryIP, overlayIP} {
		if !h.HasAddr(ip) {
			t.Errorf("%s does not hold %s locally after the failover", survivor, ip)
		}
	}

	// Status names the fence: target, device, reason, result, duration.
	st, err := e.Status(survivor)
	if err != nil {
		t.Fatal(err)
	}
	var rec api.FenceRecord
	for _, r := range st.Fencing {
		if r.Target == victim && r.Result == "ok" && r.Time.After(start) {
			rec = r
		}
	}
	if rec.Target == "" {
		t.Fatalf("status has no successful fence record of %s since the power-off: %+v", victim, st.Fencing)
	}
	if rec.Device != victim+"-ec2" || !strings.Contains(rec.Reason, victim) || rec.Duration <= 0 {
		t.Errorf("fence record %+v: want device %s-ec2, a reason naming %s and a duration", rec, victim, victim)
	}
	hist, err := e.CLI(survivor, "history", "-n", "200")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("fencing %s with %s-ec2", victim, victim); !strings.Contains(hist, want) {
		t.Errorf("history lacks %q:\n%s", want, hist)
	}
	stopAt := stopped.Time.Sub(start).Round(time.Millisecond)
	t.Logf("power-off %s -> groups started on %s in %v; instance stopped after %v; fence %q took %v (reason %q); "+
		"group reasons seen meanwhile: %q", victim, survivor, took.Round(time.Millisecond), stopAt, rec.Device, rec.Duration, rec.Reason, reasons)
	if t.Failed() {
		t.Logf("sim log since the power-off:\n%s\nhistory:\n%s", text, hist)
	}
	return from, rec
}

// awsWaitGroups waits until every AWS group is started on node (as the
// node's status says) and returns the distinct group states and reasons seen
// meanwhile.
func awsWaitGroups(t *testing.T, e *EC2Cluster, node string, timeout time.Duration) []string {
	t.Helper()
	var seen []string
	e.Eventually(timeout, "groups "+strings.Join(awsGroups, ",")+" started on "+node, func() error {
		st, err := e.Status(node)
		if err != nil {
			return err
		}
		var bad []string
		for _, g := range st.Groups {
			if !slices.Contains(awsGroups, g.Name) {
				continue
			}
			if s := fmt.Sprintf("%s: %s on %q: %s", g.Name, g.State, g.Node, g.Reason); !slices.Contains(seen, s) {
				seen = append(seen, s)
			}
			if g.Node != node || g.State != "started" {
				bad = append(bad, fmt.Sprintf("%s %s on %q (%s)", g.Name, g.State, g.Node, g.Reason))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	})
	return seen
}

// awsLogText renders the simulator's log from sequence number from.
func awsLogText(log []ec2sim.Event, from int) string {
	var b strings.Builder
	for _, ev := range log {
		if ev.Seq < from {
			continue
		}
		var ps []string
		for k, v := range ev.Params {
			ps = append(ps, k+"="+v)
		}
		slices.Sort(ps)
		fmt.Fprintf(&b, "#%d %s %s %s -> %s\n", ev.Seq, ev.Time.Format("15:04:05.000"), ev.Action, strings.Join(ps, " "), ev.Result)
	}
	return b.String()
}

// TestEC2PairExample runs examples/ec2-pair as its README says to try it
// (try/demo.sh: the example's vigil.hcl on loopback addresses, the
// simulator with try/ec2sim.json) inside a lab namespace: haproxy answers on
// lb1; after `demo.sh fail lb1` (a hung node) the cluster stops lb1's
// instance, whose stop hook kills lb1's processes, and only then moves the
// Elastic IP and haproxy to lb2.
func TestEC2PairExample(t *testing.T) {
	l := New(t, "vlawse")
	h := l.AddClient("demo", "198.18.0.60")
	dir := filepath.Join(l.Dir(), "demo")
	demo := filepath.Join(ExampleDir(t, "ec2-pair"), "try", "demo.sh")
	env := []string{"env", "VIGIL_DEMO_DIR=" + dir, "VIGIL=" + Vigil(t), "EC2SIM=" + Build(t, "./test/ec2sim/cmd/ec2sim")}
	run := func(args ...string) string {
		t.Helper()
		out, err := h.Run(append(append(env, "sh", demo), args...)...)
		if err != nil {
			t.Fatalf("demo.sh %v: %v", args, err)
		}
		return out
	}
	run("up")
	t.Cleanup(func() { _, _ = h.Run(append(append(env, "sh", demo), "down")...) })

	waitWeb := func(node string) {
		t.Helper()
		if err := poll(60*time.Second, 100*time.Millisecond, func() error {
			out, err := h.Run(append(append(env, "sh", demo), "status", "-json")...)
			if err != nil {
				return err
			}
			var st api.Status
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return err
			}
			for _, g := range st.Groups {
				if g.Name == "web" && g.Node == node && g.State == "started" {
					return nil
				}
			}
			return fmt.Errorf("web not started on %s: %+v", node, st.Groups)
		}); err != nil {
			t.Fatalf("%v\n%s", err, tail(filepath.Join(dir, "ec2sim.log"), 20))
		}
	}
	page := func(ip string) (string, error) {
		return h.Run("curl", "-sS", "-m", "2", "http://"+ip+":8080/")
	}
	waitWeb("lb1")
	if out, err := page("127.0.0.11"); err != nil || !strings.Contains(out, "served by lb1") {
		t.Fatalf("haproxy on lb1: %q, %v", out, err)
	}
	var before []ec2sim.Event
	if err := json.Unmarshal([]byte(run("log")), &before); err != nil {
		t.Fatal(err)
	}
	from := LastSimSeq(before) + 1

	run("fail", "lb1")
	waitWeb("lb2")
	if out, err := page("127.0.0.12"); err != nil || !strings.Contains(out, "served by lb2") {
		t.Errorf("haproxy on lb2: %q, %v", out, err)
	}
	if out, err := page("127.0.0.11"); err == nil {
		t.Errorf("lb1's haproxy still answers after lb1's instance was stopped: %q", out)
	}
	var log []ec2sim.Event
	if err := json.Unmarshal([]byte(run("log")), &log); err != nil {
		t.Fatal(err)
	}
	stopped, ok1 := FirstSimEvent(log, from, "state", map[string]string{"InstanceId": "i-0a1b2c3d4e5f60001", "To": "stopped"})
	assoc, ok2 := FirstSimEvent(log, from, "AssociateAddress", map[string]string{"NetworkInterfaceId": "eni-0a1b2c3d4e5f60002"})
	if !ok1 || !ok2 || stopped.Seq > assoc.Seq {
		t.Errorf("want lb1's instance stopped, then the EIP associated with lb2's ENI; sim log:\n%s", awsLogText(log, from))
	}
	if stopped.Result != "ok" {
		t.Errorf("the stop hook failed: %s", stopped.Result)
	}
}
