package configs

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func topSchema() *hcl.BodySchema {
	return attrSchema([]string{"node_name", "data_dir", "log_level", "maintenance"},
		hcl.BlockHeaderSchema{Type: "cluster"},
		hcl.BlockHeaderSchema{Type: "node", LabelNames: []string{"name"}},
		hcl.BlockHeaderSchema{Type: "fence", LabelNames: []string{"type", "name"}},
		hcl.BlockHeaderSchema{Type: "group", LabelNames: []string{"name"}},
		hcl.BlockHeaderSchema{Type: "check", LabelNames: []string{"type", "name"}},
		hcl.BlockHeaderSchema{Type: "order"},
		hcl.BlockHeaderSchema{Type: "colocate"},
		hcl.BlockHeaderSchema{Type: "telemetry"},
		hcl.BlockHeaderSchema{Type: "alert", LabelNames: []string{"name"}},
	)
}

// decodeConfig decodes the merged top level of every file.
func (d *decoder) decodeConfig(bodies []hcl.Body, schemas Schemas) *Config {
	c := &Config{LogLevel: defaultLogLevel}
	attrs, blocks := d.content("", bodies, topSchema())
	d.str("node_name", attrs["node_name"], &c.NodeName)
	d.path("data_dir", attrs["data_dir"], &c.DataDir)
	d.str("log_level", attrs["log_level"], &c.LogLevel)
	d.boolean("maintenance", attrs["maintenance"], &c.Maintenance)

	var cluster, telemetry []hcl.Body
	seen := map[string]hcl.Range{} // "node.lb1" -> where first defined
	dup := func(b *hcl.Block, key string) bool {
		if prev, ok := seen[key]; ok {
			d.errRange(b.DefRange, key, "defined twice; first defined at %s:%d:%d",
				prev.Filename, prev.Start.Line, prev.Start.Column)
			return true
		}
		seen[key] = b.DefRange
		d.pos[key] = b.DefRange
		return false
	}
	for _, b := range blocks {
		// The first block of a type stands for the list, for problems such as
		// "an even number of nodes" that concern no single block.
		if _, ok := d.pos[b.Type]; !ok {
			d.pos[b.Type] = b.DefRange
		}
		switch b.Type {
		case "cluster":
			cluster = append(cluster, b.Body)
		case "node":
			if key := "node." + b.Labels[0]; !dup(b, key) {
				c.Nodes = append(c.Nodes, d.node(key, b))
			} else {
				d.droppedNodes = true
			}
		case "fence":
			if key := "fence." + b.Labels[1]; !dup(b, key) {
				if f, ok := d.fence(key, b, schemas.Fences); ok {
					c.Fences = append(c.Fences, f)
				} else {
					d.badFences[b.Labels[1]] = true
				}
			}
		case "group":
			if key := "group." + b.Labels[0]; !dup(b, key) {
				c.Groups = append(c.Groups, d.group(key, b, schemas, dup))
			}
		case "check":
			if key := "check." + b.Labels[1]; !dup(b, key) {
				if ch, ok := d.check(key, "", b, schemas.Checks); ok {
					c.Checks = append(c.Checks, ch)
				}
			}
		case "order":
			key := fmt.Sprintf("order[%d]", len(c.Orders))
			d.pos[key] = b.DefRange
			a, _ := d.content(key, []hcl.Body{b.Body}, attrSchema([]string{"first", "then"}))
			var o Order
			d.str(key+".first", a["first"], &o.First)
			d.str(key+".then", a["then"], &o.Then)
			c.Orders = append(c.Orders, o)
		case "colocate":
			key := fmt.Sprintf("colocate[%d]", len(c.Colocations))
			d.pos[key] = b.DefRange
			a, _ := d.content(key, []hcl.Body{b.Body}, attrSchema([]string{"group", "with", "apart"}))
			var co Colocation
			d.str(key+".group", a["group"], &co.Group)
			d.str(key+".with", a["with"], &co.With)
			d.boolean(key+".apart", a["apart"], &co.Apart)
			c.Colocations = append(c.Colocations, co)
		case "telemetry":
			telemetry = append(telemetry, b.Body)
		case "alert":
			if key := "alert." + b.Labels[0]; !dup(b, key) {
				c.Alerts = append(c.Alerts, d.alert(key, b))
			}
		}
	}
	d.telemetry(&c.Telemetry, telemetry)
	d.cluster(&c.Cluster, cluster)
	return c
}

func (d *decoder) cluster(cl *Cluster, bodies []hcl.Body) {
	const key = "cluster"
	attrs, blocks := d.content(key, bodies,
		attrSchema([]string{"name", "bind", "heartbeat", "gossip_key_file", "timing", "two_node",
			"wait_for_all", "priority_fence_delay"},
			hcl.BlockHeaderSchema{Type: "tuning"}, hcl.BlockHeaderSchema{Type: "tls"}, hcl.BlockHeaderSchema{Type: "api"},
			hcl.BlockHeaderSchema{Type: "arbitrator"}))
	d.str(key+".name", attrs["name"], &cl.Name)
	d.str(key+".bind", attrs["bind"], &cl.Bind)
	d.str(key+".heartbeat", attrs["heartbeat"], &cl.Heartbeat)
	d.boolean(key+".two_node", attrs["two_node"], &cl.TwoNode)
	cl.WaitForAll, cl.PriorityFenceDelay = true, DefaultPriorityFenceDelay
	d.boolean(key+".wait_for_all", attrs["wait_for_all"], &cl.WaitForAll)
	d.duration(key+".priority_fence_delay", attrs["priority_fence_delay"], &cl.PriorityFenceDelay)

	// The key file is read later (secrets.go); keep its path where secrets can find it.
	d.path(key+".gossip_key_file", attrs["gossip_key_file"], &d.gossipKeyFile)

	preset := defaultTiming
	d.str(key+".timing", attrs["timing"], &preset)
	t, ok := TimingPreset(preset)
	if !ok {
		d.errf(key+".timing", "unknown timing %q (use %s)", preset, presetList())
		d.badTiming = true
		t, _ = TimingPreset(defaultTiming)
	}

	byType := map[string][]hcl.Body{}
	for _, b := range blocks {
		k := key + "." + b.Type
		if _, ok := d.pos[k]; !ok {
			d.pos[k] = b.DefRange
		}
		byType[b.Type] = append(byType[b.Type], b.Body)
	}
	if bs := byType["tuning"]; len(bs) > 0 {
		ta, _ := d.content(key+".tuning", bs, attrSchema(tuningKeys()))
		fields := tuningFields(&t)
		for _, name := range tuningKeys() {
			k := key + ".tuning." + name
			switch p := fields[name].(type) {
			case *int:
				d.integer(k, ta[name], p)
			case *time.Duration:
				d.duration(k, ta[name], p)
			}
		}
	}
	cl.Timing = t
	if bs := byType["tls"]; len(bs) > 0 {
		ta, _ := d.content(key+".tls", bs, attrSchema([]string{"ca_file", "cert_file", "key_file"}))
		d.path(key+".tls.ca_file", ta["ca_file"], &cl.TLS.CAFile)
		d.path(key+".tls.cert_file", ta["cert_file"], &cl.TLS.CertFile)
		d.path(key+".tls.key_file", ta["key_file"], &cl.TLS.KeyFile)
	}
	if bs := byType["api"]; len(bs) > 0 {
		aa, _ := d.content(key+".api", bs, attrSchema([]string{"socket", "address"}))
		d.path(key+".api.socket", aa["socket"], &cl.API.Socket)
		d.str(key+".api.address", aa["address"], &cl.API.Address)
	}
	if bs := byType["arbitrator"]; len(bs) > 0 {
		aa, _ := d.content(key+".arbitrator", bs, attrSchema([]string{"address", "server_name", "ca_file"}))
		d.str(key+".arbitrator.address", aa["address"], &cl.Arbitrator.Address)
		d.str(key+".arbitrator.server_name", aa["server_name"], &cl.Arbitrator.ServerName)
		d.path(key+".arbitrator.ca_file", aa["ca_file"], &cl.Arbitrator.CAFile)
	}
}

func (d *decoder) node(key string, b *hcl.Block) Node {
	n := Node{Name: b.Labels[0]}
	attrs, blocks := d.content(key, []hcl.Body{b.Body},
		attrSchema([]string{"address", "heartbeat", "witness", "fence", "fence_delay", "fence_delay_max"},
			hcl.BlockHeaderSchema{Type: "fence_level"}))
	d.str(key+".address", attrs["address"], &n.Address)
	d.str(key+".heartbeat", attrs["heartbeat"], &n.Heartbeat)
	d.boolean(key+".witness", attrs["witness"], &n.Witness)
	d.duration(key+".fence_delay", attrs["fence_delay"], &n.FenceDelay)
	d.duration(key+".fence_delay_max", attrs["fence_delay_max"], &n.FenceDelayMax)
	if a := attrs["fence"]; a != nil {
		if devs, ok := d.list(key+".fence", a); ok {
			for _, dev := range devs {
				n.Fence = append(n.Fence, FenceLevel{Devices: []string{dev}})
			}
		}
	}
	for i, lb := range blocks {
		lk := fmt.Sprintf("%s.fence_level[%d]", key, i)
		d.pos[lk] = lb.DefRange
		if attrs["fence"] != nil {
			if i == 0 {
				d.errRange(lb.DefRange, lk, "use either the fence list or fence_level blocks, not both")
			}
			continue
		}
		la, _ := d.content(lk, []hcl.Body{lb.Body}, attrSchema([]string{"devices"}))
		var lvl FenceLevel
		if a := la["devices"]; a != nil {
			lvl.Devices, _ = d.list(lk+".devices", a)
		}
		n.Fence = append(n.Fence, lvl)
	}
	return n
}

// typedBody decodes a block whose first label is a type from table, with the
// common keys decoded by the caller from the returned attributes.
func (d *decoder) typedBody(key, kind string, b *hcl.Block, table map[string]TypeSchema, common []string) (map[string]*hcl.Attribute, TypeSchema, bool) {
	typ := b.Labels[0]
	s, ok := table[typ]
	if !ok {
		known := make([]string, 0, len(table))
		for t := range table {
			known = append(known, t)
		}
		sort.Strings(known)
		d.errRange(b.LabelRanges[0], key, "unknown %s type %q (known types: %s)", kind, typ, strings.Join(known, ", "))
		return nil, nil, false
	}
	attrs, _ := d.content(key, []hcl.Body{b.Body}, attrSchema(append(common, s.Keys()...)))
	return attrs, s, true
}

func (d *decoder) fence(key string, b *hcl.Block, table map[string]TypeSchema) (Fence, bool) {
	attrs, s, ok := d.typedBody(key, "fence", b, table, fenceCommonKeys())
	if !ok {
		return Fence{}, false
	}
	f := Fence{Type: b.Labels[0], Name: b.Labels[1], Retries: defaultFenceRetries}
	f.Timeout, _ = parseDuration(defaultFenceTimeout)
	d.duration(key+".timeout", attrs["timeout"], &f.Timeout)
	d.integer(key+".retries", attrs["retries"], &f.Retries)
	f.MonitorInterval, _ = parseDuration(defaultFenceMonitor)
	d.duration(key+".monitor_interval", attrs["monitor_interval"], &f.MonitorInterval)
	f.Action = FenceOff
	d.str(key+".action", attrs["action"], &f.Action)
	if f.Action != FenceOff && f.Action != FenceReboot {
		d.errf(key+".action", "unknown fence action %q (use %q or %q)", f.Action, FenceOff, FenceReboot)
	}
	f.Params = d.params(key, s, attrs)
	return f, true
}

func (d *decoder) group(key string, b *hcl.Block, schemas Schemas, dup func(*hcl.Block, string) bool) Group {
	g := Group{Name: b.Labels[0], MigrationThreshold: defaultMigrationThreshold}
	g.MinMoveInterval, _ = parseDuration(defaultMinMoveInterval)
	attrs, blocks := d.content(key, []hcl.Body{b.Body},
		attrSchema([]string{"prefer", "failback", "migration_threshold", "failure_timeout", "min_move_interval", "maintenance"},
			hcl.BlockHeaderSchema{Type: "resource", LabelNames: []string{"type", "name"}},
			hcl.BlockHeaderSchema{Type: "check", LabelNames: []string{"type", "name"}}))
	d.str(key+".prefer", attrs["prefer"], &g.Prefer)
	d.boolean(key+".failback", attrs["failback"], &g.Failback)
	d.integer(key+".migration_threshold", attrs["migration_threshold"], &g.MigrationThreshold)
	d.duration(key+".failure_timeout", attrs["failure_timeout"], &g.FailureTimeout)
	d.duration(key+".min_move_interval", attrs["min_move_interval"], &g.MinMoveInterval)
	d.boolean(key+".maintenance", attrs["maintenance"], &g.Maintenance)
	for _, rb := range blocks {
		switch rb.Type {
		case "resource":
			// Resource names are cluster-wide: the CLI addresses them by name.
			rk := key + ".resource." + rb.Labels[1]
			if prev, ok := d.resourceNames[rb.Labels[1]]; ok {
				d.errRange(rb.DefRange, rk, "resource name %q is already used by %s at %s (resource names must be unique in the cluster)",
					rb.Labels[1], prev, d.pos.where(prev))
				continue
			}
			d.resourceNames[rb.Labels[1]] = rk
			d.pos[rk] = rb.DefRange
			if r, ok := d.resource(rk, rb, schemas.Resources); ok {
				g.Resources = append(g.Resources, r)
			}
		case "check":
			ck := key + ".check." + rb.Labels[1]
			if !dup(rb, ck) {
				if ch, ok := d.check(ck, g.Name, rb, schemas.Checks); ok {
					g.Checks = append(g.Checks, ch)
				}
			}
		}
	}
	return g
}

func (d *decoder) resource(key string, b *hcl.Block, table map[string]TypeSchema) (Resource, bool) {
	attrs, s, ok := d.typedBody(key, "resource", b, table, resourceCommonKeys())
	if !ok {
		return Resource{}, false
	}
	r := Resource{Type: b.Labels[0], Name: b.Labels[1], OnFail: defaultOnFail}
	r.StartTimeout, _ = parseDuration(defaultOpTimeout)
	r.StopTimeout, _ = parseDuration(defaultOpTimeout)
	r.MonitorTimeout, _ = parseDuration(defaultOpTimeout)
	r.MonitorInterval, _ = parseDuration(defaultMonitorInterval)
	d.duration(key+".start_timeout", attrs["start_timeout"], &r.StartTimeout)
	d.duration(key+".stop_timeout", attrs["stop_timeout"], &r.StopTimeout)
	d.duration(key+".monitor_timeout", attrs["monitor_timeout"], &r.MonitorTimeout)
	d.duration(key+".monitor_interval", attrs["monitor_interval"], &r.MonitorInterval)
	d.str(key+".on_fail", attrs["on_fail"], &r.OnFail)
	r.Params = d.params(key, s, attrs)
	return r, true
}

func (d *decoder) check(key, group string, b *hcl.Block, table map[string]TypeSchema) (Check, bool) {
	attrs, s, ok := d.typedBody(key, "check", b, table, checkCommonKeys())
	if !ok {
		return Check{}, false
	}
	ch := Check{Type: b.Labels[0], Name: b.Labels[1], Group: group, Rise: defaultCheckRise, Fall: defaultCheckFall}
	ch.Interval, _ = parseDuration(defaultCheckInterval)
	ch.Timeout, _ = parseDuration(defaultCheckTimeout)
	d.duration(key+".interval", attrs["interval"], &ch.Interval)
	d.duration(key+".timeout", attrs["timeout"], &ch.Timeout)
	d.integer(key+".rise", attrs["rise"], &ch.Rise)
	d.integer(key+".fall", attrs["fall"], &ch.Fall)
	ch.Params = d.params(key, s, attrs)
	return ch, true
}
