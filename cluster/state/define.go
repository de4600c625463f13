package state

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// DefineGroups sets the groups the cluster runs and their resources, from
// the leader's configuration: committed by the leader when it first leads
// and after a `vigil reload` changed the group list. From then on the state
// machine checks names against this replicated list instead of each
// replica's own configuration, so a group added by a reload is accepted
// alike on every replica, whichever of them has reloaded yet. A group that
// is no longer defined is dropped once nobody holds it (the leader first
// assigns it nowhere, so its holder stops it).
type DefineGroups struct {
	Groups map[string][]string `json:"groups"` // group -> resource names, in order
	Time   time.Time           `json:"time"`
}

// Type implements Command.
func (DefineGroups) Type() Type { return TypeDefineGroups }

// define bounds the definition's size and names.
func (v *checker) define(c *DefineGroups) {
	if len(c.Groups) > maxRecords {
		v.fail("too many groups")
	}
	for g, rs := range c.Groups {
		v.name("group", g)
		if len(rs) > maxRecords {
			v.fail("too many resources in group %q", g)
		}
		for _, r := range rs {
			v.name("resource", r)
		}
	}
}

func (d *Data) define(idx uint64, c *DefineGroups) {
	first := d.Defined == nil
	var added []string
	for g := range c.Groups {
		if _, ok := d.Defined[g]; !ok && !first {
			added = append(added, g)
		}
	}
	d.Defined = cloneDefined(c.Groups)
	if d.Defined == nil {
		d.Defined = map[string][]string{}
	}
	sort.Strings(added)
	if len(added) > 0 {
		d.event(idx, c.Time, "config", "", "", "groups added by a configuration reload: "+strings.Join(added, ", "))
	}
	for _, name := range d.GroupNames() {
		g := d.Groups[name]
		if _, ok := d.Defined[name]; ok || g.Holder != "" {
			continue
		}
		delete(d.Groups, name)
		d.event(idx, c.Time, "config", "", name, fmt.Sprintf("group %s removed from the configuration and dropped", name))
	}
}

// definedGroup reports whether the replicated definition (when there is
// one) lets commands name group g: it is defined, or still held by a node
// that has to report it stopped.
func (d *Data) definedGroup(g string) (known, decided bool) {
	if d.Defined == nil {
		return false, false
	}
	_, ok := d.Defined[g]
	return ok || d.Groups[g] != nil, true
}

func cloneDefined(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = append([]string(nil), v...)
	}
	return out
}
