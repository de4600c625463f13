package agent

import (
	"strings"
	"testing"
)

func TestStoreWarningNamesTheErrorAndTheTime(t *testing.T) {
	if w := storeWarning(map[string]string{}); w != "" {
		t.Errorf("warning %q without a store error", w)
	}
	w := storeWarning(map[string]string{metaStoreKey: "1764528000 write raft.db: no space left on device"})
	for _, want := range []string{"since 2025-11-30T18:40:00Z", "no space left on device", "no part in commits", "data_dir"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q does not say %q", w, want)
		}
	}
}
