package aws

import (
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/fencing"
)

func TestNewRefusesUnknownKeys(t *testing.T) {
	_, err := New(fencing.Device{Name: "lb2-ec2", Params: map[string]string{"instance_id": "i-0abc", "regoin": "eu-west-1"}})
	if err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Fatalf("unknown key: %v", err)
	}
}
