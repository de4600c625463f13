package reload

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/vigil-ha/vigil/configs"
)

// FirstChanged is the position of the first resource whose definition
// (name, type or parameters) differs between two versions of a group, or
// len(old) when old's resources are all unchanged (resources appended at the
// end, or only operation settings changed). A running group is restarted in
// place from there: like Pacemaker, which restarts a resource whose
// parameters changed and, in a group, every member after it; the members
// before it keep running. Operation settings (timeouts, monitor interval,
// on_fail) apply without a restart, as Pacemaker reschedules a changed
// monitor without restarting the resource.
func FirstChanged(old, new []configs.Resource) int {
	for i, o := range old {
		if i >= len(new) {
			return i
		}
		n := new[i]
		if o.Name != n.Name || o.Type != n.Type || !maps.Equal(o.Params, n.Params) {
			return i
		}
	}
	return len(old)
}

// Groups describes what a reload does to the groups, one line each, for
// the reload reply and the log. Groups that did not change are not named:
// they keep running untouched.
func Groups(old, new *configs.Config) []string {
	before := map[string]configs.Group{}
	for _, g := range old.Groups {
		before[g.Name] = g
	}
	var out []string
	seen := map[string]bool{}
	for _, g := range new.Groups {
		seen[g.Name] = true
		o, ok := before[g.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("group %s added: the leader places it", g.Name))
		case equal(o, g):
		default:
			out = append(out, groupChange(o, g))
		}
	}
	for _, g := range old.Groups {
		if !seen[g.Name] {
			out = append(out, fmt.Sprintf("group %s removed: its holder stops it, then it is dropped", g.Name))
		}
	}
	return out
}

func groupChange(o, n configs.Group) string {
	first := FirstChanged(o.Resources, n.Resources)
	var restarted []string
	for i := first; i < len(o.Resources); i++ {
		restarted = append(restarted, o.Resources[i].Name)
	}
	var added []string
	for i := max(first, len(o.Resources)); i < len(n.Resources); i++ {
		added = append(added, n.Resources[i].Name)
	}
	msg := "group " + n.Name + " changed"
	switch {
	case len(restarted) > 0:
		msg += fmt.Sprintf(": %s restarted in place on its holder (the resources before it keep running)",
			joinNames(restarted))
	case len(added) > 0:
		msg += fmt.Sprintf(": %s started on its holder, nothing restarted", joinNames(added))
	default:
		msg += ": settings applied, nothing restarted"
	}
	if !slices.EqualFunc(o.Checks, n.Checks, func(a, b configs.Check) bool { return reflect.DeepEqual(a, b) }) {
		msg += "; its checks replaced"
	}
	return msg
}

func joinNames(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
