package executor

import (
	"testing"

	"github.com/vigil-ha/vigil/resources"
)

// wrapped hides every optional ability of the agent it wraps, as the
// telemetry timing wrapper does, but says what it wraps.
type wrapped struct{ resources.Agent }

func (w wrapped) Unwrap() resources.Agent { return w.Agent }

// A wrapper must not turn re-announcing off: the executor looks through it.
func TestAbilitiesFoundThroughWrappers(t *testing.T) {
	inner := &refreshing{fake: &fake{name: "vip", log: &log{}}}
	var a resources.Agent = wrapped{wrapped{inner}}
	if _, ok := a.(announcer); ok {
		t.Fatal("test wrapper should hide the ability")
	}
	if an, ok := ability[announcer](a); !ok || an != announcer(inner) {
		t.Fatalf("announcer not found through two wrappers: %v %v", an, ok)
	}
	if _, ok := ability[refresher](a); !ok {
		t.Fatal("refresher not found through the wrappers")
	}
	if _, ok := ability[announcer](resources.Agent(&fake{})); ok {
		t.Fatal("an agent without the ability has it")
	}
}
