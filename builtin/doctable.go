package builtin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-ha/vigil/params"
)

// KeyTable renders the type-specific keys of one kind of block (resource,
// fence or check types) as the Markdown table docs/configuration.md shows:
// types sorted by name, required keys first.
func KeyTable(types map[string]params.Schema) string {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("| type | key | kind | required | default / notes |\n|---|---|---|---|---|\n")
	for _, typ := range names {
		s := types[typ]
		first := "`" + typ + "`"
		for _, key := range s.DocOrder() {
			k := s[key]
			kind := k.Kind.String()
			if k.Secret {
				kind = "path"
			}
			req := ""
			if k.Required {
				req = "yes"
			}
			notes := k.Doc
			if k.Default != "" {
				notes = strings.TrimSuffix("default `"+k.Default+"`; "+notes, "; ")
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", first, key, kind, req, notes)
			first = ""
		}
	}
	return b.String()
}

// DocTables are the generated tables of docs/configuration.md, by the name
// their markers carry (<!-- keys:NAME --> ... <!-- /keys -->).
func DocTables() map[string]string {
	s := Schemas()
	return map[string]string{
		"resource": KeyTable(s.Resources),
		"fence":    KeyTable(s.Fences),
		"check":    KeyTable(s.Checks),
	}
}
