package state

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Known lists the names the configuration defines. The state machine
// refuses commands that name anything else, so no input can create records
// for made-up nodes or groups. Every replica must be built from the same
// lists (the same nodes and groups in every node's config), or replicas
// could decide differently.
type Known struct {
	Nodes  []string
	Groups map[string][]string // group -> its resource names
}

// Bounds on what the state stores. Names longer than maxName are refused;
// free text (reasons, messages, errors) is cut to maxText. Without a Known
// list (tests), at most maxRecords nodes and groups are created.
const (
	maxName    = 128
	maxText    = 512
	maxKind    = 32
	maxRecords = 256
)

type known struct {
	nodes  map[string]bool
	groups map[string]map[string]bool
}

func newKnown(k Known) *known {
	if len(k.Nodes) == 0 && len(k.Groups) == 0 {
		return nil
	}
	out := &known{nodes: map[string]bool{}, groups: map[string]map[string]bool{}}
	for _, n := range k.Nodes {
		out.nodes[n] = true
	}
	for g, rs := range k.Groups {
		out.groups[g] = map[string]bool{}
		for _, r := range rs {
			out.groups[g][r] = true
		}
	}
	return out
}

// check refuses a command that names something unknown or too long, and
// cuts its free text to size. It runs in Apply before anything changes, on
// every replica alike.
func (d *Data) check(k *known, c Command) error {
	v := &checker{d: d, k: k}
	switch c := c.(type) {
	case *SetStandby:
		v.node(c.Node)
	case *SetNodeStatus:
		v.node(c.Node)
		v.oneOf("status", c.Status, NodeOnline, NodeOffline, NodeFailed, NodeFenced)
		c.Reason = cut(c.Reason, maxText)
		c.Boot = cut(c.Boot, 32)
	case *Assign:
		v.group(c.Group)
		v.optNode(c.Node)
		c.Reason = cut(c.Reason, maxText)
	case *GroupReport:
		v.group(c.Group)
		v.node(c.Node)
		v.oneOf("state", c.State, GroupStopped, GroupStarting, GroupStarted, GroupStopping, GroupFailed, GroupBlocked)
		c.Reason = cut(c.Reason, maxText)
	case *ClearHolder:
		v.group(c.Group)
		v.node(c.Node)
		c.Reason = cut(c.Reason, maxText)
	case *MarkUnmanaged:
		v.group(c.Group)
		v.node(c.Node)
		c.Reason = cut(c.Reason, maxText)
	case *ResourceFailed:
		v.group(c.Group)
		v.resource(c.Group, c.Resource)
		v.node(c.Node)
		c.Reason = cut(c.Reason, maxText)
	case *Cleanup:
		v.group(c.Group)
		c.Message = cut(c.Message, maxText)
	case *SetMaintenance:
		if c.Group != "" {
			v.group(c.Group)
		}
	case *RecordFence:
		v.node(c.Target)
		v.name("device", c.Device)
		c.Reason = cut(c.Reason, maxText)
		c.Error = cut(c.Error, maxText)
	case *Pin:
		v.group(c.Group)
		v.optNode(c.Node)
	case *SetLeaving:
		v.node(c.Node)
	case *DefineGroups:
		v.define(c)
	case *Restart:
		v.group(c.Group)
	case *RecordEvent:
		v.optNode(c.Node)
		if c.Group != "" {
			v.group(c.Group)
		}
		c.Kind = cut(c.Kind, maxKind)
		c.Message = cut(c.Message, maxText)
	}
	return v.err
}

type checker struct {
	d   *Data
	k   *known
	err error
}

func (v *checker) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf(format, args...)
	}
}

func (v *checker) name(what, s string) {
	if s == "" || len(s) > maxName {
		v.fail("%s name %q is empty or longer than %d bytes", what, cut(s, 40), maxName)
	}
}

func (v *checker) node(s string) {
	v.name("node", s)
	if v.err != nil {
		return
	}
	if v.k != nil && !v.k.nodes[s] {
		v.fail("no node named %q in the configuration", s)
	}
	if v.k == nil && v.d.Nodes[s] == nil && len(v.d.Nodes) >= maxRecords {
		v.fail("too many nodes")
	}
}

func (v *checker) optNode(s string) {
	if s != "" {
		v.node(s)
	}
}

func (v *checker) group(s string) {
	v.name("group", s)
	if v.err != nil {
		return
	}
	if ok, decided := v.d.definedGroup(s); decided {
		if !ok {
			v.fail("no group named %q in the configuration", s)
		}
		return
	}
	if v.k != nil && v.k.groups[s] == nil {
		v.fail("no group named %q in the configuration", s)
	}
	if v.k == nil && v.d.Groups[s] == nil && len(v.d.Groups) >= maxRecords {
		v.fail("too many groups")
	}
}

func (v *checker) resource(g, r string) {
	v.name("resource", r)
	switch {
	case v.err != nil:
	case v.d.Defined != nil:
		if rs, ok := v.d.Defined[g]; ok && !slices.Contains(rs, r) {
			v.fail("group %q has no resource named %q", g, r)
		}
	case v.k != nil:
		if rs := v.k.groups[g]; rs != nil && !rs[r] {
			v.fail("group %q has no resource named %q", g, r)
		}
	default:
		if gg := v.d.Groups[g]; gg != nil && gg.Resources[r] == nil && len(gg.Resources) >= maxRecords {
			v.fail("too many resources in group %q", g)
		}
	}
}

func (v *checker) oneOf(what, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.fail("unknown %s %q", what, cut(s, 40))
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
