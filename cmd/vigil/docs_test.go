package main

import (
	"os"
	"strings"
	"testing"
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
