package configs

import (
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder turns HCL bodies into Config fields, recording where every key was
// written and reporting every problem rather than stopping at the first.
type decoder struct {
	reporter
	gossipKeyFile string            // read by loadSecrets
	resourceNames map[string]string // resource name -> key where defined
	badFences     map[string]bool   // fence names dropped for an unknown type
	badTiming     bool              // unknown preset: its values are a stand-in, do not check them
	droppedNodes  bool              // a duplicate node was dropped: the voter count is meaningless
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// content applies schema to one or more bodies (several when a block such as
// cluster is split across files) and merges their attributes, reporting a key
// set twice with both places.
func (d *decoder) content(key string, bodies []hcl.Body, s *hcl.BodySchema) (map[string]*hcl.Attribute, []*hcl.Block) {
	attrs := map[string]*hcl.Attribute{}
	var blocks []*hcl.Block
	for _, b := range bodies {
		c, diags := b.Content(s)
		d.hcl(key, diags)
		if c == nil {
			continue
		}
		names := make([]string, 0, len(c.Attributes))
		for n := range c.Attributes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a := c.Attributes[n]
			k := join(key, n)
			if prev, ok := attrs[n]; ok {
				d.errRange(a.NameRange, k, "set twice; it is already set at %s",
					fmt.Sprintf("%s:%d:%d", prev.NameRange.Filename, prev.NameRange.Start.Line, prev.NameRange.Start.Column))
				continue
			}
			attrs[n] = a
			d.pos[k] = a.NameRange
		}
		blocks = append(blocks, c.Blocks...)
	}
	return attrs, blocks
}

// attrSchema builds a body schema of optional attributes plus the given blocks.
func attrSchema(names []string, blocks ...hcl.BlockHeaderSchema) *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: blocks}
	for _, n := range names {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

// value evaluates an attribute; literals only (no variables or functions).
func (d *decoder) value(key string, a *hcl.Attribute) (cty.Value, bool) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		d.hcl(key, diags)
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errRange(a.NameRange, key, "must not be null")
		return cty.NilVal, false
	}
	return v, true
}

// scalar converts a primitive value to its string form.
func (d *decoder) scalar(key string, a *hcl.Attribute, v cty.Value) (string, bool) {
	if !v.Type().IsPrimitiveType() {
		d.errRange(a.NameRange, key, "must be a single value, not %s", v.Type().FriendlyName())
		return "", false
	}
	if v.Type() == cty.Number {
		// Avoid "2e+01"-style renderings of plain integers.
		f := v.AsBigFloat()
		if f.IsInt() {
			i, _ := f.Int(new(big.Int))
			return i.String(), true
		}
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		d.errRange(a.NameRange, key, "must be a string: %v", err)
		return "", false
	}
	return s.AsString(), true
}

func (d *decoder) str(key string, a *hcl.Attribute, dst *string) bool {
	if a == nil {
		return false
	}
	v, ok := d.value(key, a)
	if !ok {
		return false
	}
	s, ok := d.scalar(key, a, v)
	if ok {
		*dst = s
	}
	return ok
}

// path reads a file path; a relative path is taken relative to the directory
// of the file it is written in, so a config directory can be moved as a whole.
func (d *decoder) path(key string, a *hcl.Attribute, dst *string) {
	var s string
	if !d.str(key, a, &s) {
		return
	}
	if s != "" && !filepath.IsAbs(s) {
		s = filepath.Join(filepath.Dir(a.NameRange.Filename), s)
	}
	*dst = s
}

func (d *decoder) boolean(key string, a *hcl.Attribute, dst *bool) {
	if a == nil {
		return
	}
	v, ok := d.value(key, a)
	if !ok {
		return
	}
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil || !v.Type().IsPrimitiveType() {
		d.errRange(a.NameRange, key, "must be true or false")
		return
	}
	*dst = bv.True()
}

func (d *decoder) integer(key string, a *hcl.Attribute, dst *int) {
	var s string
	if !d.str(key, a, &s) {
		return
	}
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.errRange(a.NameRange, key, "%q is not an integer", s)
		return
	}
	*dst = i
}

func (d *decoder) duration(key string, a *hcl.Attribute, dst *time.Duration) {
	var s string
	if !d.str(key, a, &s) {
		return
	}
	dur, err := parseDuration(s)
	if err != nil {
		d.errRange(a.NameRange, key, "%v", err)
		return
	}
	*dst = dur
}

// parseDuration accepts Go durations ("1.5s", "200ms") and a bare "0".
func parseDuration(s string) (time.Duration, error) {
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: \"500ms\", \"2s\", \"1m30s\")", s)
	}
	return dur, nil
}

// list reads a list of scalars.
func (d *decoder) list(key string, a *hcl.Attribute) ([]string, bool) {
	v, ok := d.value(key, a)
	if !ok {
		return nil, false
	}
	if !v.Type().IsListType() && !v.Type().IsTupleType() && !v.Type().IsSetType() {
		d.errRange(a.NameRange, key, "must be a list, e.g. [\"a\", \"b\"]")
		return nil, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		if ev.IsNull() {
			d.errRange(a.NameRange, key, "list elements must not be null")
			return nil, false
		}
		s, ok := d.scalar(key, a, ev)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// strMap reads a map (or object) of scalars.
func (d *decoder) strMap(key string, a *hcl.Attribute) (map[string]string, bool) {
	v, ok := d.value(key, a)
	if !ok {
		return nil, false
	}
	if !v.Type().IsMapType() && !v.Type().IsObjectType() {
		d.errRange(a.NameRange, key, "must be a map, e.g. { name = \"value\" }")
		return nil, false
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		kv, ev := it.Element()
		if ev.IsNull() {
			d.errRange(a.NameRange, key, "map value for %q must not be null", kv.AsString())
			return nil, false
		}
		s, ok := d.scalar(key, a, ev)
		if !ok {
			return nil, false
		}
		out[kv.AsString()] = s
	}
	return out, true
}
