package configs

import (
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ha/vigil/params"
)

// params turns the type-specific attributes of a block into a Params map:
// scalars as strings, lists joined with ",", maps flattened as "<key>.<mapkey>".
// Defaults from the schema fill absent keys. Format checks happen later in
// checkParams so a Config built in code gets the same checks.
func (d *decoder) params(key string, s TypeSchema, attrs map[string]*hcl.Attribute) map[string]string {
	out := map[string]string{}
	for _, name := range s.Keys() {
		k := s[name]
		a := attrs[name]
		if a == nil {
			if k.Default != "" {
				out[name] = k.Default
			}
			continue
		}
		ak := join(key, name)
		switch k.Kind {
		case KindList:
			items, ok := d.list(ak, a)
			if !ok {
				continue
			}
			bad := false
			for _, it := range items {
				if strings.Contains(it, ",") {
					d.errRange(a.NameRange, ak, "list element %q must not contain a comma", it)
					bad = true
				}
			}
			if !bad {
				out[name] = strings.Join(items, ",")
			}
		case KindMap:
			m, ok := d.strMap(ak, a)
			if !ok {
				continue
			}
			for mk, mv := range m {
				out[name+"."+mk] = mv
			}
		case KindBool:
			var b bool
			before := len(d.diags)
			d.boolean(ak, a, &b)
			if len(d.diags) == before {
				out[name] = strconv.FormatBool(b)
			}
		default:
			var v string
			before := len(d.diags)
			if k.Secret {
				d.path(ak, a, &v)
			} else {
				d.str(ak, a, &v)
			}
			if len(d.diags) == before {
				out[name] = v
			}
		}
	}
	return out
}

// checkParams validates a Params map against its type's schema: unknown keys,
// missing required keys and per-kind formats. key is the block's dotted path.
func checkParams(r *reporter, key string, s TypeSchema, params map[string]string) {
	keys := make([]string, 0, len(params))
	for p := range params {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		v := params[p]
		name, sub, isSub := strings.Cut(p, ".")
		k, ok := s[name]
		switch {
		case !ok:
			r.errf(join(key, p), "unknown key %q (this type takes: %s)", p, strings.Join(s.Keys(), ", "))
			continue
		case isSub != (k.Kind == KindMap):
			r.errf(join(key, p), "key %q must be written as a %s", name, k.Kind)
			continue
		case isSub && sub == "":
			r.errf(join(key, p), "empty map key in %q", name)
			continue
		}
		if msg := checkKind(k.Kind, v); msg != "" {
			r.errf(join(key, name), "%s", msg)
		}
	}
	for _, name := range s.Keys() {
		k := s[name]
		if !k.Required {
			continue
		}
		if v, ok := params[name]; (ok && v != "") || r.failed[join(key, name)] {
			continue
		}
		if _, ok := params[name]; ok {
			r.errf(join(key, name), "must not be empty")
		} else {
			r.errf(key, "missing required key %q", name)
		}
	}
}

// checkKind returns a message when v is not a valid value of kind k.
func checkKind(k Kind, v string) string { return params.CheckValue(k, v) }

// checkHostPort accepts "ip:port" or "name:port" with a numeric port.
func checkHostPort(v string) string { return params.CheckValue(KindHostPort, v) }
