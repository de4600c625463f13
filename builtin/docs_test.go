package builtin

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md's generated key tables")

const docPath = "../docs/configuration.md"

// The key tables in docs/configuration.md are generated from the types'
// schemas; this fails when they differ. Regenerate with
//
//	go test ./builtin -run TestDocKeyTables -update
func TestDocKeyTables(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	out := doc
	for name, table := range DocTables() {
		open := "<!-- keys:" + name + " -->\n"
		i := strings.Index(out, open)
		j := strings.Index(out[max(i, 0):], "<!-- /keys -->")
		if i < 0 || j < 0 {
			t.Fatalf("%s has no %s... <!-- /keys --> block", docPath, strings.TrimSpace(open))
		}
		j += i
		out = out[:i+len(open)] + table + out[j:]
	}
	if out == doc {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: key tables differ from the types' schemas; run go test ./builtin -run TestDocKeyTables -update", docPath)
}
