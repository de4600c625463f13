package agent

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// lifecycleWarnings are the status warnings for fence devices that fail
// their check and resource operations that keep failing.
func lifecycleWarnings(st api.Status, now time.Time) []string {
	var out []string
	for _, d := range st.FenceDevices {
		if d.State == "failing" {
			out = append(out, fmt.Sprintf("fence device %s (fences %s) fails its check from %s since %s: %s",
				d.Device, d.Target, d.Node, d.Since.Local().Format("15:04:05"), d.Error))
		}
	}
	for _, f := range st.Failures {
		next := "no more attempts until `vigil resource cleanup " + f.Group + "`"
		if !f.Retry.IsZero() {
			next = "next attempt in " + max(f.Retry.Sub(now), 0).Round(100*time.Millisecond).String()
		}
		out = append(out, fmt.Sprintf("%s: %s/%s %s failed %d time(s), last: %s; %s",
			f.Node, f.Group, f.Resource, f.Op, f.Attempts, f.Error, next))
	}
	return out
}
