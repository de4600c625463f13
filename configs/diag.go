package configs

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Diagnostic is one problem found in a configuration. File, Line and Col are
// zero when the problem has no source position (a Config built in code).
type Diagnostic struct {
	File string
	Line int
	Col  int
	Key  string // dotted path of the offending key, e.g. "cluster.bind" or "group.web.resource.vip.address"
	Msg  string
}

func (d Diagnostic) String() string {
	var b strings.Builder
	switch {
	case d.File != "" && d.Line > 0:
		fmt.Fprintf(&b, "%s:%d:%d: ", d.File, d.Line, d.Col)
	case d.File != "":
		fmt.Fprintf(&b, "%s: ", d.File)
	}
	if d.Key != "" {
		b.WriteString(d.Key)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diagnostics is every problem found by Load or Validate. It is returned as the
// error so that callers (vigil config validate) can print all of them at once.
type Diagnostics []Diagnostic

// Error prints one problem per line as "file:line:col: key: message".
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// err returns ds as an error, or a true nil when there is nothing to report.
func (ds Diagnostics) err() error {
	if len(ds) == 0 {
		return nil
	}
	ds.sort()
	return ds
}

// sort orders diagnostics by file position; position-less ones come last.
func (ds Diagnostics) sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if (a.File == "") != (b.File == "") {
			return a.File != ""
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// positions maps a dotted key to where it was written, so that checks run on
// the decoded Config can still point at the source.
type positions map[string]hcl.Range

// lookup finds key, or else its closest recorded parent (the enclosing block).
func (p positions) lookup(key string) (hcl.Range, bool) {
	for k := key; k != ""; {
		if r, ok := p[k]; ok {
			return r, true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return hcl.Range{}, false
}

// where formats the position of key for "already used at ..." messages.
func (p positions) where(key string) string {
	if r, ok := p[key]; ok {
		return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
	}
	return key
}

// reporter collects diagnostics, placing each at its key's recorded position.
type reporter struct {
	diags  Diagnostics
	pos    positions
	failed map[string]bool // keys whose value could not be decoded: already reported
}

func (r *reporter) errf(key, format string, args ...any) {
	d := Diagnostic{Key: key, Msg: fmt.Sprintf(format, args...)}
	if rng, ok := r.pos.lookup(key); ok {
		d.File, d.Line, d.Col = rng.Filename, rng.Start.Line, rng.Start.Column
	}
	r.diags = append(r.diags, d)
}

// errRange reports at an explicit source range.
func (r *reporter) errRange(rng hcl.Range, key, format string, args ...any) {
	if r.failed == nil {
		r.failed = map[string]bool{}
	}
	r.failed[key] = true
	r.diags = append(r.diags, Diagnostic{
		File: rng.Filename, Line: rng.Start.Line, Col: rng.Start.Column,
		Key: key, Msg: fmt.Sprintf(format, args...),
	})
}

// hcl converts the library's diagnostics (syntax errors, unsupported
// arguments...) into ours, attributing them to the enclosing key.
func (r *reporter) hcl(key string, hd hcl.Diagnostics) {
	for _, h := range hd {
		if h.Severity != hcl.DiagError {
			continue
		}
		msg := h.Summary
		if h.Detail != "" {
			msg += ": " + h.Detail
		}
		d := Diagnostic{Key: key, Msg: msg}
		if r.failed == nil {
			r.failed = map[string]bool{}
		}
		r.failed[key] = true
		if h.Subject != nil {
			d.File, d.Line, d.Col = h.Subject.Filename, h.Subject.Start.Line, h.Subject.Start.Column
		}
		r.diags = append(r.diags, d)
	}
}
