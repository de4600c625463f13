package configs

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Validate checks a Config built in code (e.g. Dev) with the same rules Load
// applies. Problems carry no file position. It reads no files: the gossip key
// and secrets must already be in the Config. schemas is as for Load.
func Validate(c *Config, schemas Schemas) error {
	r := &reporter{}
	validate(r, c, schemas, validateOpts{})
	return r.diags.err()
}

type validateOpts struct {
	gossipKeyFileSet bool            // Load already reported on the file; do not say it is missing
	badFences        map[string]bool // fences dropped for an unknown type; do not also report references
	badTiming        bool            // timing preset unknown; already reported
	droppedNodes     bool            // a duplicate node was reported; skip the voter count
	noCluster        bool            // no cluster block at all: one message instead of one per key
}

// validName says what names may contain: they appear in CLI arguments, keys and logs.
func validName(s string) bool {
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return s != ""
}

func checkName(r *reporter, key, kind, name string) {
	if !validName(name) {
		r.errf(key, "%s name %q must start with a letter or digit and contain only letters, digits, '.', '_' and '-'", kind, name)
	}
}

func validate(r *reporter, c *Config, schemas Schemas, o validateOpts) {
	if c.NodeName == "" {
		r.errf("node_name", "is required: the name of this node's node block")
	}
	if c.DataDir == "" {
		r.errf("data_dir", "is required (e.g. \"/var/lib/vigil\")")
	}
	if !slices.Contains(logLevels(), c.LogLevel) {
		r.errf("log_level", "unknown log level %q (use %s)", c.LogLevel, strings.Join(logLevels(), ", "))
	}
	if o.noCluster {
		r.errf("cluster", "a cluster block is required (name, gossip_key_file, tls; see docs/configuration.md)")
	} else {
		validateCluster(r, c, o)
	}
	nodes := validateNodes(r, c, o)
	validateFences(r, c, schemas)
	validateGroups(r, c, schemas, nodes)
	for _, ch := range c.Checks {
		validateCheck(r, "check."+ch.Name, ch, schemas)
	}
	validateConstraints(r, c)
}

func validateCluster(r *reporter, c *Config, o validateOpts) {
	cl := c.Cluster
	if cl.Name == "" {
		r.errf("cluster.name", "is required: it keeps clusters on a shared network apart")
	} else {
		checkName(r, "cluster.name", "cluster", cl.Name)
	}
	local := c.Local()
	for _, a := range [][3]string{{"cluster.bind", cl.Bind, local.Address}, {"cluster.heartbeat", cl.Heartbeat, local.Heartbeat}} {
		key, v, def := a[0], a[1], a[2]
		if v == "" {
			// Without a usable local node entry the node checks already
			// explain what is missing; saying it here too would be noise.
			if def != "" {
				r.errf(key, "is required (it defaults to this node's address in its node block)")
			}
		} else if msg := checkHostPort(v); msg != "" {
			r.errf(key, "%s", msg)
		}
	}
	switch {
	case cl.GossipKey == nil && !c.Dev && !o.gossipKeyFileSet:
		r.errf("cluster.gossip_key_file", "is required: the heartbeat link must be encrypted (create one with `vigil keygen`)")
	case cl.GossipKey != nil && !validKeyLen(len(cl.GossipKey)):
		r.errf("cluster.gossip_key_file", "gossip key is %d bytes; it must be 16, 24 or 32", len(cl.GossipKey))
	}
	if !c.Dev || !cl.TLS.Empty() {
		for _, a := range [][2]string{{"ca_file", cl.TLS.CAFile}, {"cert_file", cl.TLS.CertFile}, {"key_file", cl.TLS.KeyFile}} {
			key, v := a[0], a[1]
			if v == "" {
				r.errf("cluster.tls", "%s is required: the cluster link uses mutual TLS (create files with `vigil tls`)", key)
			}
		}
	}
	if cl.API.Socket == "" && c.DataDir != "" {
		r.errf("cluster.api.socket", "is required")
	}
	if cl.API.Address != "" {
		if msg := checkHostPort(cl.API.Address); msg != "" {
			r.errf("cluster.api.address", "%s", msg)
		} else if cl.TLS.Empty() {
			r.errf("cluster.api.address", "serving the API over TCP needs cluster.tls (it is served with mutual TLS only)")
		}
	}
	if !o.badTiming {
		validateTiming(r, cl.Timing)
	}
}

// validateNodes checks the node list and returns the nodes by name.
func validateNodes(r *reporter, c *Config, o validateOpts) map[string]Node {
	nodes := map[string]Node{}
	addrs := map[string]string{} // host:port -> key that uses it
	voters := 0
	for _, n := range c.Nodes {
		key := "node." + n.Name
		checkName(r, key, "node", n.Name)
		if _, ok := nodes[n.Name]; ok {
			r.errf(key, "node %q is defined twice", n.Name)
			continue
		}
		nodes[n.Name] = n
		voters++
		for _, a := range []struct{ attr, v string }{{"address", n.Address}, {"heartbeat", n.Heartbeat}} {
			ak := key + "." + a.attr
			if a.v == "" {
				r.errf(key, "%s is required", a.attr)
				continue
			}
			if msg := checkHostPort(a.v); msg != "" {
				r.errf(ak, "%s", msg)
				continue
			}
			if prev, ok := addrs[a.v]; ok {
				r.errf(ak, "%s is already used by %s (%s); every node needs its own address and heartbeat", a.v, prev, r.pos.where(prev))
				continue
			}
			addrs[a.v] = ak
		}
		if n.FenceDelay < 0 {
			r.errf(key+".fence_delay", "must not be negative")
		}
		if n.FenceDelayMax < 0 {
			r.errf(key+".fence_delay_max", "must not be negative")
		}
		for i, lvl := range n.Fence {
			lk := fmt.Sprintf("%s.fence_level[%d]", key, i)
			if _, ok := r.pos[lk]; !ok {
				lk = key + ".fence"
			}
			if len(lvl.Devices) == 0 {
				r.errf(lk, "fence level %d has no devices", i+1)
			}
			for _, dev := range lvl.Devices {
				if !o.badFences[dev] && !slices.ContainsFunc(c.Fences, func(f Fence) bool { return f.Name == dev }) {
					r.errf(lk, "no fence device named %q (define it with fence \"<type>\" %q { ... })", dev, dev)
				}
			}
		}
	}
	if len(c.Nodes) == 0 {
		r.errf("node", "at least one node block is required")
	} else if _, ok := nodes[c.NodeName]; c.NodeName != "" && !ok {
		r.errf("node_name", "%q is not one of the nodes (%s)", c.NodeName, strings.Join(nodeNames(c), ", "))
	}
	switch {
	case o.droppedNodes || len(c.Nodes) == 0:
	case c.Cluster.TwoNode && voters != 2:
		r.errf("cluster.two_node", "two_node = true needs exactly 2 nodes, found %d", voters)
	case c.Cluster.TwoNode:
		validateTwoNode(r, c)
	case voters%2 == 0 && !c.Cluster.TwoNode:
		r.errf("node", "%d voting nodes (witnesses included) is an even number: raft needs a majority of voters to elect "+
			"a leader and commit, so an even count adds no fault tolerance; with 2 nodes one failure stops the cluster. "+
			"Add a witness node (node \"witness\" { ... witness = true }) or, for exactly two nodes, set "+
			"cluster { two_node = true } with a fence device for each node", voters)
	}
	return nodes
}

func nodeNames(c *Config) []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Name
	}
	return out
}

func validateFences(r *reporter, c *Config, schemas Schemas) {
	seen := map[string]bool{}
	for _, f := range c.Fences {
		key := "fence." + f.Name
		checkName(r, key, "fence", f.Name)
		if seen[f.Name] {
			r.errf(key, "fence device %q is defined twice", f.Name)
			continue
		}
		seen[f.Name] = true
		s, ok := schemas.Fences[f.Type]
		if !ok {
			r.errf(key, "unknown fence type %q", f.Type)
			continue
		}
		checkParams(r, key, s, f.Params)
		if f.Timeout <= 0 {
			r.errf(key+".timeout", "must be positive")
		}
		if f.Retries < 0 {
			r.errf(key+".retries", "must not be negative")
		}
		if f.MonitorInterval < 0 {
			r.errf(key+".monitor_interval", "must not be negative (0 turns the check off)")
		}
		if p, ok := f.Params["port"]; ok {
			if n, err := strconv.Atoi(p); err == nil && (n < 1 || n > 65535) {
				r.errf(key+".port", "must be 1-65535")
			}
		}
	}
}

func validateGroups(r *reporter, c *Config, schemas Schemas, nodes map[string]Node) {
	seen := map[string]bool{}
	resources := map[string]string{}
	hosts := 0
	for _, n := range c.Nodes {
		if !n.Witness {
			hosts++
		}
	}
	if len(c.Groups) > 0 && hosts == 0 && len(c.Nodes) > 0 {
		r.errf("node", "every node is a witness, so no node can run groups")
	}
	for _, g := range c.Groups {
		key := "group." + g.Name
		checkName(r, key, "group", g.Name)
		if seen[g.Name] {
			r.errf(key, "group %q is defined twice", g.Name)
			continue
		}
		seen[g.Name] = true
		if g.Prefer != "" {
			if n, ok := nodes[g.Prefer]; !ok {
				r.errf(key+".prefer", "no node named %q", g.Prefer)
			} else if n.Witness {
				r.errf(key+".prefer", "%q is a witness node; witnesses never run resources", g.Prefer)
			}
		}
		if g.MigrationThreshold < 0 {
			r.errf(key+".migration_threshold", "must not be negative (0 = never move on failures)")
		}
		if g.FailureTimeout < 0 {
			r.errf(key+".failure_timeout", "must not be negative (0 = fail counts never expire)")
		}
		if g.MinMoveInterval < 0 {
			r.errf(key+".min_move_interval", "must not be negative")
		}
		for _, res := range g.Resources {
			rk := key + ".resource." + res.Name
			if prev, ok := resources[res.Name]; ok {
				r.errf(rk, "resource name %q is already used by %s (resource names must be unique in the cluster)", res.Name, prev)
				continue
			}
			resources[res.Name] = rk
			validateResource(r, rk, res, schemas)
		}
		checks := map[string]bool{}
		for _, ch := range g.Checks {
			ck := key + ".check." + ch.Name
			if checks[ch.Name] {
				r.errf(ck, "check %q is defined twice in group %q", ch.Name, g.Name)
				continue
			}
			checks[ch.Name] = true
			validateCheck(r, ck, ch, schemas)
		}
	}
}

func validateResource(r *reporter, key string, res Resource, schemas Schemas) {
	checkName(r, key, "resource", res.Name)
	s, ok := schemas.Resources[res.Type]
	if !ok {
		r.errf(key, "unknown resource type %q", res.Type)
		return
	}
	checkParams(r, key, s, res.Params)
	for _, t := range []struct {
		attr string
		v    int64
	}{
		{"start_timeout", int64(res.StartTimeout)}, {"stop_timeout", int64(res.StopTimeout)},
		{"monitor_timeout", int64(res.MonitorTimeout)}, {"monitor_interval", int64(res.MonitorInterval)},
	} {
		if t.v <= 0 {
			r.errf(key+"."+t.attr, "must be positive")
		}
	}
	if !slices.Contains(onFailValues(), res.OnFail) {
		r.errf(key+".on_fail", "unknown on_fail %q (use %s)", res.OnFail, strings.Join(onFailValues(), ", "))
	}
	if res.Type == "ocf" {
		if a := res.Params["agent"]; a != "" {
			if p, t, ok := strings.Cut(a, ":"); !ok || p == "" || t == "" || strings.Contains(t, ":") {
				r.errf(key+".agent", "%q is not provider:type (e.g. \"heartbeat:apache\")", a)
			}
		}
	}
}

func validateCheck(r *reporter, key string, ch Check, schemas Schemas) {
	checkName(r, key, "check", ch.Name)
	s, ok := schemas.Checks[ch.Type]
	if !ok {
		r.errf(key, "unknown check type %q", ch.Type)
		return
	}
	checkParams(r, key, s, ch.Params)
	if ch.Interval <= 0 {
		r.errf(key+".interval", "must be positive")
	}
	if ch.Timeout <= 0 {
		r.errf(key+".timeout", "must be positive")
	} else if ch.Interval > 0 && ch.Timeout > ch.Interval {
		r.errf(key+".timeout", "timeout (%s) must not exceed interval (%s)", ch.Timeout, ch.Interval)
	}
	if ch.Rise < 1 {
		r.errf(key+".rise", "must be at least 1")
	}
	if ch.Fall < 1 {
		r.errf(key+".fall", "must be at least 1")
	}
	if ch.Type == "http" {
		if u := ch.Params["url"]; u != "" {
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				r.errf(key+".url", "%q is not an http:// or https:// URL", u)
			}
		}
		method := strings.ToUpper(ch.Params["method"])
		if strings.ContainsAny(method, " \t\r\n") {
			r.errf(key+".method", "%q is not an HTTP method", ch.Params["method"])
		}
		if method == "HEAD" && ch.Params["body_contains"] != "" {
			r.errf(key+".body_contains", "needs a method that returns a body, not HEAD")
		}
		if es := ch.Params["expect_status"]; es != "" && !validStatusSpec(es) {
			r.errf(key+".expect_status", "%q is not a status list such as \"200\", \"200-399\" or \"200,204\"", es)
		}
	}
}

// validStatusSpec accepts comma-separated codes and ranges of 100-599.
func validStatusSpec(s string) bool {
	code := func(x string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil && n >= 100 && n <= 599
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, ok := code(lo)
		if !ok {
			return false
		}
		if isRange {
			b, ok := code(hi)
			if !ok || b < a {
				return false
			}
		}
	}
	return true
}

func validateConstraints(r *reporter, c *Config) {
	groups := map[string]bool{}
	for _, g := range c.Groups {
		groups[g.Name] = true
	}
	known := func(key, name string) {
		if name == "" {
			r.errf(key, "is required")
		} else if !groups[name] {
			r.errf(key, "no group named %q", name)
		}
	}
	after := map[string][]string{}
	for i, o := range c.Orders {
		key := fmt.Sprintf("order[%d]", i)
		known(key+".first", o.First)
		known(key+".then", o.Then)
		if o.First != "" && o.First == o.Then {
			r.errf(key, "a group cannot be ordered before itself")
		}
		after[o.First] = append(after[o.First], o.Then)
	}
	if cyc := orderCycle(after); cyc != nil {
		r.errf("order", "order constraints form a cycle: %s", strings.Join(cyc, " -> "))
	}
	for i, co := range c.Colocations {
		key := fmt.Sprintf("colocate[%d]", i)
		known(key+".group", co.Group)
		known(key+".with", co.With)
		if co.Group != "" && co.Group == co.With {
			r.errf(key, "a group cannot be colocated with itself")
		}
	}
}

// orderCycle returns one cycle in the "starts before" graph, or nil.
func orderCycle(after map[string][]string) []string {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = visiting
		stack = append(stack, n)
		for _, m := range after[n] {
			if m == n {
				continue // reported separately
			}
			switch state[m] {
			case visiting:
				i := slices.Index(stack, m)
				return append(slices.Clone(stack[i:]), m)
			case 0:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	keys := make([]string, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if state[k] == 0 {
			if c := visit(k); c != nil {
				return c
			}
		}
	}
	return nil
}
