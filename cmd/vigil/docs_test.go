package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
)

// The README quotes the one systemd unit in examples/ word for word.
func TestReadmeQuotesTheSystemdUnit(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("../../examples/systemd/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```ini\n"+string(unit)+"```") {
		t.Error("README.md does not quote examples/systemd/vigil.service as it is")
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "RuntimeDirectory=vigil"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if strings.Contains(string(readme), "sudo .ci") {
		t.Error("README tells to use sudo, which bare Debian lacks")
	}
}

// Every `vigil COMMAND` the README and docs/ name (in inline code, or at
// the start of a line of a code block) is a command of this binary (a doc
// once sent monitoring to a `vigil check` that never was).
func TestDocsNameRealCommands(t *testing.T) {
	known := map[string]bool{"help": true} // the cli library's
	for name := range commands(cli.NewMockUi()) {
		known[strings.Fields(name)[0]] = true
	}
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	inline := regexp.MustCompile("`vigil ([a-z][a-z0-9-]*)")
	block := regexp.MustCompile(`^\s*(?:\$ |sudo )?vigil ([a-z][a-z0-9-]*)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fenced := false
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
				continue
			}
			re := inline
			if fenced {
				re = block
			}
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				if !known[m[1]] {
					t.Errorf("%s:%d names `vigil %s`, which is no command", filepath.Base(f), i+1, m[1])
				}
			}
		}
	}
}
