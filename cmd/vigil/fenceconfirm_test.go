package main

import (
	"strings"
	"testing"

	"github.com/hashicorp/cli"
)

// Both fences ask for the node's name and do nothing on any other answer
// (before any request reaches an agent: the address here has none).
func TestFenceWithoutTheNodeNameDoesNothing(t *testing.T) {
	for _, args := range [][]string{{"n2"}, {"-confirm", "n2"}} {
		ui := cli.NewMockUi()
		ui.InputReader = strings.NewReader("n3\n")
		code := (&fenceCmd{ui: ui}).Run(append([]string{"-address", t.TempDir() + "/none.sock"}, args...))
		if code != 1 || !strings.Contains(ui.ErrorWriter.String(), "not confirmed; nothing done") ||
			!strings.Contains(ui.OutputWriter.String()+ui.ErrorWriter.String(), "Type the node name to confirm") {
			t.Errorf("fence %v answered n3: exit %d\n%s%s", args, code, ui.OutputWriter, ui.ErrorWriter)
		}
	}
}
