package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// Defaults of the CI run (make test); make chaos passes SEED and STEPS.
const (
	chaosDefaultSeed  = 16
	chaosDefaultSteps = 6
	// chaosLiveBound is how long after healing the cluster has to be healthy
	// again with the group started on exactly one eligible node. It covers
	// a fence that lands after the heal, a power-on and a rejoin, on a
	// loaded machine.
	chaosLiveBound = 60 * time.Second
	chaosCLITime   = 8 * time.Second
)

// TestChaos runs a seeded sequence of faults (ChaosPlan) against n1, n2 and
// the witness w with IPMI fencing (ipmi_sim), the group "vip" (VIP + a
// service) and a sampler reading both resource nodes' addresses every 10 ms.
// After each step it heals every fault and checks:
//
//   - safety: the VIP was never held by two nodes (sampler);
//   - liveness: within chaosLiveBound the cluster is healthy and the group
//     runs on exactly one node that is not in standby (or nowhere when both
//     are), and that node alone holds the VIP;
//   - durability: each node's standby flag is the value of the last
//     acknowledged standby/online command (or of one sent after it whose
//     outcome is unknown: a command that timed out may still commit).
//
// It stops at the first violation, naming the seed and step; the same seed
// replays the same fault sequence. A table per fault type is printed at the
// end. VIGIL_CHAOS_SEED and VIGIL_CHAOS_STEPS choose the run:
//
//	make chaos SEED=7 STEPS=40
func TestChaos(t *testing.T) {
	seed, steps, kinds := chaosParams(t)
	plan := ChaosPlan(seed, steps, kinds)
	l := New(t, "vlabc")
	fc := StartFencedCluster(l, FenceSpec{LogLevel: "info"})
	c := &chaosRun{
		t: t, l: l, fc: fc, seed: seed, steps: steps, stats: newChaosStats(),
		hs:      SampleHolders([]*Host{fc.Node("n1").Host, fc.Node("n2").Host}, FenceVIP, 10*time.Millisecond),
		standby: map[string]map[bool]bool{"n1": {false: true}, "n2": {false: true}},
	}
	t.Logf("chaos: seed %d, %d steps, fault kinds %v", seed, steps, kinds)
	defer func() {
		fmt.Printf("chaos seed %d, %d of %d steps run, VIP sampled %d times:\n%s",
			seed, c.done, steps, len(c.hs.Samples()), c.stats)
		if c.exits > 0 {
			fmt.Printf("agents that exited on their own (restarted): %d\n", c.exits)
		}
	}()
	for i, s := range plan {
		c.step(i+1, s)
		c.done++
	}
	// A quiet period after the last step: what a late decision would break
	// shows up here rather than nowhere.
	time.Sleep(5 * time.Second)
	if err := poll(chaosLiveBound, 200*time.Millisecond, c.converged); err != nil {
		t.Fatalf("chaos seed %d after the last step: liveness: %v", seed, err)
	}
	if err := c.noDoubleHolder(); err != nil {
		t.Fatalf("chaos seed %d after the last step: %v", seed, err)
	}
}

func chaosParams(t *testing.T) (seed uint64, steps int, kinds []FaultKind) {
	seed, steps = chaosDefaultSeed, chaosDefaultSteps
	if v := os.Getenv("VIGIL_CHAOS_KINDS"); v != "" {
		for _, k := range strings.Split(v, ",") {
			if !slices.Contains(FaultKinds(), FaultKind(k)) {
				t.Fatalf("VIGIL_CHAOS_KINDS: unknown fault kind %q (known: %v)", k, FaultKinds())
			}
			kinds = append(kinds, FaultKind(k))
		}
	}
	if v := os.Getenv("VIGIL_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("VIGIL_CHAOS_SEED=%q: %v", v, err)
		}
		seed = s
	}
	if v := os.Getenv("VIGIL_CHAOS_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("VIGIL_CHAOS_STEPS=%q: want a positive integer", v)
		}
		steps = n
	}
	return seed, steps, kinds
}

type chaosRun struct {
	t           *testing.T
	l           *Lab
	fc          *FencedCluster
	hs          *Holders
	seed        uint64
	steps, done int
	stats       *chaosStats
	// standby holds the values each resource node's replicated standby flag
	// may have: the last acknowledged command's, plus those of later
	// commands whose outcome is unknown.
	standby map[string]map[bool]bool
	exits   int // agents that exited without a fault that explains it
	checked int // VIP samples already checked for a double holder
	// cut: the links (Pub, HB) cut between two nodes in the current step
	// (link-cut, link-1way, isolate), by the pair's names in order.
	cut map[[2]string]map[string]bool
}

// nodeFaults are the node faults applied in the current step, by node.
type nodeFaults map[string]FaultKind

func (c *chaosRun) step(n int, s Step) {
	t := c.t
	roles := c.roles()
	t.Logf("chaos step %d/%d %s (roles: %v)", n, c.steps, s, roles)
	start := time.Now()
	down := nodeFaults{}
	c.cut = map[[2]string]map[string]bool{}
	type switchUp struct {
		at time.Duration
		up func()
	}
	var ups []switchUp // switch outages in progress, by end
	endSwitches := func(by time.Duration) {
		for len(ups) > 0 && ups[0].at <= by {
			time.Sleep(time.Until(start.Add(ups[0].at)))
			ups[0].up()
			t.Logf("chaos: switch back @%.2fs", ups[0].at.Seconds())
			ups = ups[1:]
		}
	}
	for _, f := range s.Faults {
		endSwitches(f.At)
		time.Sleep(time.Until(start.Add(f.At)))
		if f.Kind == FaultSwitch {
			c.stats.rows[f.Kind].injected++
			t.Logf("chaos: %s", f)
			ups = append(ups, switchUp{f.At + f.Dur, c.switchDown()})
			slices.SortFunc(ups, func(a, b switchUp) int { return int(a.at - b.at) })
			continue
		}
		c.apply(f, roles, down)
	}
	endSwitches(s.Hold)
	time.Sleep(time.Until(start.Add(s.Hold)))

	c.l.Heal()
	for node, kind := range down {
		c.heal(node, kind)
	}
	healed := time.Now()
	err := poll(chaosLiveBound, 200*time.Millisecond, c.converged)
	rec := time.Since(healed)
	if err != nil {
		err = fmt.Errorf("liveness: not converged %v after healing: %w", chaosLiveBound, err)
	}
	if err == nil {
		err = c.noDoubleHolder()
	}
	if err == nil {
		err = c.durable()
	}
	if err == nil && noNodeFailed(s) {
		err = c.nothingFencedSince(start)
	}
	if err == nil {
		err = c.fencesExplained(start, down)
	}
	for _, f := range s.Faults {
		if err != nil {
			c.stats.rows[f.Kind].failed++
		} else {
			c.stats.rows[f.Kind].recovery = append(c.stats.rows[f.Kind].recovery, rec)
		}
	}
	if err != nil {
		t.Fatalf("chaos seed %d step %d %s: %v\nreplay: make chaos SEED=%d STEPS=%d", c.seed, n, s, err, c.seed, n)
	}
	t.Logf("chaos step %d: converged %v after healing", n, rec.Round(time.Millisecond))
}

// switchDown takes the switch of both links down between the three nodes
// (their BMCs, on a network of their own, still answer).
func (c *chaosRun) switchDown() (up func()) {
	fc := c.fc
	return c.l.SwitchDown([]string{Pub, HB}, fc.Node("n1").Host, fc.Node("n2").Host, fc.Node("w").Host)
}

// noNodeFailed reports whether s has only switch outages and admin
// commands: no node then failed or was cut off for longer than the step's
// outages, and none may be fenced.
func noNodeFailed(s Step) bool {
	for _, f := range s.Faults {
		if f.Kind != FaultSwitch && !f.Kind.admin() {
			return false
		}
	}
	return true
}

// nothingFencedSince: no fence was asked for since start (a fence of a node
// that had not failed is a power-off the cluster caused itself).
func (c *chaosRun) nothingFencedSince(start time.Time) error {
	st, err := c.fc.Status("w")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	for _, f := range st.Fencing {
		if !f.Time.Before(start) {
			return fmt.Errorf("a switch outage alone got %s fenced (%s at %s)", f.Target, f.Device, f.Time.Format("15:04:05.000"))
		}
	}
	return nil
}

// fencesExplained: every node fenced since start had a fault that may call
// for it: its power cut, its agent frozen or killed, or its cluster link
// (Pub) to some node cut, in either direction. The last is the policy of
// coordinator/release.go: a holder cut off from the leader on the cluster
// link cannot renew nor report its stop, and once its lease ran out it is
// fenced (a frozen agent may still look alive on the heartbeat link for a
// while). A clean restart, a cut of the heartbeat link alone (invariant 6:
// no shooting over a broken cable) or a switch outage never calls for one:
// such a fence is a power-off the cluster caused itself.
func (c *chaosRun) fencesExplained(start time.Time, down nodeFaults) error {
	st, err := c.fc.Status("w")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	for _, f := range st.Fencing {
		if f.Time.Before(start) {
			continue
		}
		kind, ok := down[f.Target]
		if ok && kind != FaultRestart || c.cutOn(f.Target, Pub) {
			c.t.Logf("chaos: %s fenced at %s (%s; explained)", f.Target, f.Time.Format("15:04:05.000"), f.Device)
			continue
		}
		why := "no fault of its own"
		if ok {
			why = "a clean restart"
		}
		if c.cutOn(f.Target, HB) {
			why += " and a cut of the heartbeat link alone"
		}
		return fmt.Errorf("%s was fenced (%s at %s) after %s", f.Target, f.Device, f.Time.Format("15:04:05.000"), why)
	}
	return nil
}

func nodePair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// cutOff notes that link (Pub or HB) was cut between a and b.
func (c *chaosRun) cutOff(link, a, b string) {
	p := nodePair(a, b)
	if c.cut[p] == nil {
		c.cut[p] = map[string]bool{}
	}
	c.cut[p][link] = true
}

// cutOn: link was cut between node and some other node.
func (c *chaosRun) cutOn(node, link string) bool {
	for _, n := range []string{"n1", "n2", "w"} {
		if n != node && c.cut[nodePair(node, n)][link] {
			return true
		}
	}
	return false
}

// roles resolves the roles at the start of a step (the previous step left
// the cluster converged, so there is at most one holder).
func (c *chaosRun) roles() map[Role]string {
	active := "n1"
	if h := c.fc.VIPHolders(); len(h) == 1 {
		active = h[0]
	}
	// A leader that was paused in the last step may still lose an election
	// after the group converged (raft steps a resumed leader down): wait
	// for one agreed leader within the liveness bound.
	var leader string
	err := poll(chaosLiveBound, 100*time.Millisecond, func() (err error) {
		leader, err = c.fc.agreedLeader()
		return err
	})
	if err != nil {
		c.t.Fatalf("chaos: no leader at the start of a step within %v: %v", chaosLiveBound, err)
	}
	return map[Role]string{RoleActive: active, RolePassive: Other(active), RoleWitness: "w", RoleLeader: leader}
}

func (c *chaosRun) apply(f Fault, roles map[Role]string, down nodeFaults) {
	t := c.t
	row := c.stats.rows[f.Kind]
	node := roles[f.Target]
	switch {
	case f.Kind.nodeFault():
		if _, ok := down[node]; ok {
			t.Logf("chaos: %s: %s already has a fault this step; skipped", f, node)
			row.skipped++
			return
		}
		down[node] = f.Kind
		row.injected++
		t.Logf("chaos: %s -> %s", f, node)
		c.nodeFault(f.Kind, node)
	case f.Kind.admin():
		row.injected++
		if c.admin(f.Kind, node, roles[f.Via]) {
			row.acked++
		}
	case f.Kind == FaultIsolate:
		row.injected++
		t.Logf("chaos: %s -> %s", f, node)
		c.l.Partition(f.Link, c.fc.Node(node).Host, nil)
		for _, n := range []string{"n1", "n2", "w"} {
			if n != node {
				c.cutOff(f.Link, node, n)
			}
		}
	case f.Kind == FaultLinkCut:
		row.injected++
		t.Logf("chaos: %s -> %s, %s", f, node, roles[f.Peer])
		c.l.Partition(f.Link, c.fc.Node(node).Host, c.fc.Node(roles[f.Peer]).Host)
		c.cutOff(f.Link, node, roles[f.Peer])
	case f.Kind == FaultOneWay:
		row.injected++
		t.Logf("chaos: %s -> %s, %s", f, node, roles[f.Peer])
		c.l.PartitionOneWay(f.Link, c.fc.Node(node).Host, c.fc.Node(roles[f.Peer]).Host)
		c.cutOff(f.Link, node, roles[f.Peer])
	}
}

func (c *chaosRun) nodeFault(kind FaultKind, node string) {
	fc := c.fc
	p := fc.Agent(node)
	switch kind {
	case FaultPowerOff:
		if node == "w" {
			fc.PowerOff(node) // no BMC: the lab pulls the plug itself
		} else {
			fc.CutPower(node)
		}
	case FaultSIGSTOP:
		if p != nil {
			_ = p.Signal(syscall.SIGSTOP)
		}
	case FaultKill9:
		if p != nil {
			if err := p.Kill(); err != nil {
				c.t.Fatalf("chaos: kill -9 %s: %v", node, err)
			}
		}
	case FaultRestart:
		if fc.Running(node) {
			fc.Restart(node)
		}
	}
}

// heal undoes a node fault. A node that was fenced meanwhile (its BMC cut
// the power) is powered on instead.
func (c *chaosRun) heal(node string, kind FaultKind) {
	fc := c.fc
	if node == "w" && kind == FaultPowerOff {
		fc.PowerOn(node)
		return
	}
	if kind == FaultRestart {
		return
	}
	if fc.PoweredOff(node) {
		fc.PowerOnNode(node)
		return
	}
	switch kind {
	case FaultSIGSTOP:
		if p := fc.Agent(node); p != nil {
			_ = p.Signal(syscall.SIGCONT)
		}
	case FaultKill9:
		if !fc.Running(node) {
			fc.Start(node)
		}
	}
}

// admin runs one admin command through via's socket and reports whether it
// was acknowledged; it records what the standby flags may be now.
func (c *chaosRun) admin(kind FaultKind, node, via string) bool {
	fc := c.fc
	cli := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), chaosCLITime)
		defer cancel()
		_, err := fc.CLIContext(ctx, via, args...)
		return err
	}
	var err error
	switch kind {
	case AdminStandby, AdminOnline:
		want := kind == AdminStandby
		err = cli("node", string(kind), node)
		if err == nil {
			c.standby[node] = map[bool]bool{want: true}
		} else {
			c.standby[node][want] = true // may still commit
		}
	case AdminTransfer:
		err = cli("leader", "transfer", node)
	case AdminMaintenance:
		err = cli("maintenance", "on") // converged turns it off after the heal
	case AdminMove:
		err = cli("resource", "move", FenceGroup, node)
		// Always clear, so no pin outlives the step and liveness is judged
		// on standby flags alone.
		if cerr := cli("resource", "clear", FenceGroup); cerr != nil {
			c.t.Logf("chaos: resource clear via %s: %v", via, cerr)
		}
	}
	c.t.Logf("chaos: %s %s via %s: acknowledged=%v %v", kind, node, via, err == nil, errText(err))
	return err == nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// converged is the liveness condition. It also repairs what the lab must:
// a node fenced after the heal is powered on again, and an agent that exited
// on its own is counted and started again.
func (c *chaosRun) converged() error {
	fc := c.fc
	for _, n := range fc.Nodes {
		if fc.Running(n.Name) {
			continue
		}
		if fc.PoweredOff(n.Name) {
			if n.Name == "w" {
				fc.PowerOn(n.Name)
			} else {
				fc.PowerOnNode(n.Name)
			}
		} else {
			c.exits++
			c.t.Logf("chaos: agent %s exited with no fault to explain it; starting it again", n.Name)
			fc.Start(n.Name)
		}
	}
	leader, err := fc.agreedLeader()
	if err != nil {
		return err
	}
	st, err := fc.Status(leader)
	if err != nil {
		return err
	}
	if st.Maintenance {
		// A maintenance step ends with the heal (a command whose
		// acknowledgement was lost may also commit late).
		ctx, cancel := context.WithTimeout(context.Background(), chaosCLITime)
		defer cancel()
		_, err := fc.CLIContext(ctx, leader, "maintenance", "off")
		return fmt.Errorf("maintenance was on; turned off (%v)", errText(err))
	}
	if err := Healthy(st, fc.names()); err != nil {
		return err
	}
	return groupPlaced(st, fc.VIPHolders())
}

// groupPlaced checks the group runs on exactly one node that is not in
// standby, which alone holds the VIP; or nowhere when both are in standby.
func groupPlaced(st api.Status, holders []string) error {
	var eligible []string
	for _, n := range []string{"n1", "n2"} {
		if ns, ok := NodeOf(st, n); ok && !ns.Standby {
			eligible = append(eligible, n)
		}
	}
	g, ok := GroupOf(st, FenceGroup)
	switch {
	case !ok:
		return fmt.Errorf("no group %s in the status", FenceGroup)
	case len(eligible) == 0:
		if g.State == "started" || len(holders) > 0 {
			return fmt.Errorf("both nodes in standby, yet group %s %s on %q, VIP held by %v", g.Name, g.State, g.Node, holders)
		}
		return nil
	case g.State != "started" || !slices.Contains(eligible, g.Node):
		return fmt.Errorf("group %s %s on %q (reason %q); eligible nodes %v", g.Name, g.State, g.Node, g.Reason, eligible)
	case !slices.Equal(holders, []string{g.Node}):
		return fmt.Errorf("group started on %s but VIP held by %v", g.Node, holders)
	}
	return nil
}

// noDoubleHolder checks the samples taken since the previous call, so no
// stretch between steps goes unchecked.
func (c *chaosRun) noDoubleHolder() error {
	samples := c.hs.Samples()
	from := c.checked
	c.checked = len(samples)
	for _, s := range samples[from:] {
		if len(s.Hosts) > 1 {
			return fmt.Errorf("safety: VIP held by %v at %s", s.Hosts, s.Time.Format("15:04:05.000"))
		}
	}
	return nil
}

// durable checks the standby flags against the acknowledged commands.
func (c *chaosRun) durable() error {
	// An agent the lab restarted a moment ago may not answer yet: ask
	// within the liveness bound.
	var st api.Status
	err := poll(chaosLiveBound, 200*time.Millisecond, func() error {
		leader, err := c.fc.agreedLeader()
		if err == nil {
			st, err = c.fc.Status(leader)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, n := range []string{"n1", "n2"} {
		ns, _ := NodeOf(st, n)
		if !c.standby[n][ns.Standby] {
			return fmt.Errorf("durability: %s standby=%v, but the acknowledged commands allow only %v", n, ns.Standby, c.standby[n])
		}
	}
	return nil
}

// TestChaosPlanReplays checks what makes a failing seed replayable: the
// plan is a function of the seed alone, and a long plan exercises every
// fault kind and overlapping faults.
func TestChaosPlanReplays(t *testing.T) {
	a, b := ChaosPlan(42, 200, nil), ChaosPlan(42, 200, nil)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed gave two different plans")
	}
	if fmt.Sprint(ChaosPlan(43, 200, nil)) == fmt.Sprint(a) {
		t.Fatal("two seeds gave the same plan")
	}
	if fmt.Sprint(ChaosPlan(42, 5, nil)) != fmt.Sprint(a[:5]) {
		t.Fatal("a shorter run of a seed is not a prefix of the longer one")
	}
	seen := map[FaultKind]bool{}
	overlapping := 0
	for _, s := range a {
		if len(s.Faults) > 1 {
			overlapping++
		}
		nodes := map[Role]bool{}
		for _, f := range s.Faults {
			seen[f.Kind] = true
			if f.At >= s.Hold {
				t.Errorf("fault %s starts after the step's hold %v", f, s.Hold)
			}
			if f.Kind.nodeFault() {
				if nodes[f.Target] {
					t.Errorf("step %s has two node faults on %s", s, f.Target)
				}
				nodes[f.Target] = true
			}
			if f.Kind == FaultSwitch && (f.Dur < 100*time.Millisecond || f.At+f.Dur > s.Hold-200*time.Millisecond) {
				t.Errorf("switch outage %s does not end well before the step's hold %v", f, s.Hold)
			}
			if (f.Kind == FaultLinkCut || f.Kind == FaultOneWay) && f.Target == f.Peer {
				t.Errorf("link cut %s between a node and itself", f)
			}
		}
	}
	if len(seen) != faultKindCount {
		t.Errorf("200 steps used %d of %d fault kinds: %v", len(seen), faultKindCount, seen)
	}
	if overlapping < 50 {
		t.Errorf("only %d of 200 steps have overlapping faults", overlapping)
	}
	for _, s := range ChaosPlan(42, 50, []FaultKind{FaultSIGSTOP, FaultLinkCut}) {
		for _, f := range s.Faults {
			if f.Kind != FaultSIGSTOP && f.Kind != FaultLinkCut {
				t.Fatalf("a plan limited to sigstop and link-cut has %s", f)
			}
		}
	}
}
