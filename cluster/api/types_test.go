package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A time that is not known (no TLS, no failure yet, nothing scheduled) is
// left out of the JSON a script reads, not shown as year 1.
func TestUnknownTimesAreLeftOut(t *testing.T) {
	st := Status{
		Nodes:        []NodeStatus{{Name: "dev"}},
		Groups:       []GroupStatus{{Name: "demo", Resources: []ResourceStatus{{Name: "hello"}}}},
		Checks:       []CheckStatus{{Node: "dev", Name: "http"}},
		Failures:     []OpFailure{{Node: "dev", Group: "demo", Resource: "hello", Op: "start"}},
		FenceDevices: []FenceDeviceStatus{{Node: "dev", Device: "bmc", Target: "n2"}},
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "0001-01-01") {
		t.Errorf("zero times in the JSON: %s", s)
	}
	when := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	b, _ = json.Marshal(NodeStatus{Name: "lb1", CertExpires: when})
	if !strings.Contains(string(b), `"cert_expires":"2027-03-01T12:00:00Z"`) {
		t.Errorf("a known time is missing: %s", b)
	}
}
