package ipaddr

import (
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/resources"
)

// The constructor checks its params against its own schema: a misspelt key
// is an error naming it, not silently ignored.
func TestNewRefusesUnknownKeys(t *testing.T) {
	_, err := New(resources.Spec{Name: "vip", Params: map[string]string{
		"address": "198.18.0.100/24", "interface": "eth0", "garp_cout": "3"}})
	if err == nil || !strings.Contains(err.Error(), "garp_cout") {
		t.Fatalf("unknown key: %v", err)
	}
}
