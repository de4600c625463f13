package agent

import (
	"fmt"
	"reflect"

	"github.com/vigil-ha/vigil/cluster/reload"
	"github.com/vigil-ha/vigil/configs"
)

// current is the configuration in force: the one the agent started with,
// with the sections a reload applies live (reload.Merge) as last reloaded.
func (a *Agent) current() *configs.Config {
	if c := a.live.Load(); c != nil {
		return c
	}
	return a.cfg
}

// applyLive switches the running components from running to merged (a
// reload.Merge of the new file): groups and resources (executor, leader's
// coordinator, API), health checks, fence devices and alert hooks. It
// builds every new check, fence device and resource agent before changing
// anything, so a configuration that cannot be built changes nothing. It
// returns one line per change, for the reply and the log.
func (a *Agent) applyLive(running, merged *configs.Config) ([]string, error) {
	if a.guard == nil && a.d.Net == nil && GuardedLifetime(merged) > 0 {
		// Addresses must never run without the crash guard (DESIGN.md
		// invariant 7), and it is started with the agent.
		return nil, fmt.Errorf("the new configuration gives this node its first ipaddr resource: " +
			"its crash guard starts with the agent, so restart the agent to add it")
	}
	checks, err := a.health.prepare(checksOf(merged), a.newCheck)
	if err != nil {
		return nil, err
	}
	fencesChanged := !reflect.DeepEqual(running.Fences, merged.Fences)
	var fence *fencer
	if fencesChanged {
		if fence, err = newFencer(merged, a.d.Fencers, a.applier, a.log.Named("fencing")); err != nil {
			return nil, err
		}
	}
	// The executor builds its agents and applies them in one step (all or
	// nothing); everything after it cannot fail.
	if err := a.exec.Reconfigure(merged); err != nil {
		return nil, err
	}
	var lines []string
	lines = append(lines, reload.Groups(running, merged)...)
	if started, stopped := a.health.replace(checks); started+stopped > 0 {
		lines = append(lines, fmt.Sprintf("health checks: %d started, %d stopped (unchanged ones kept running)", started, stopped))
	}
	if fencesChanged {
		a.fence.replace(fence)
		lines = append(lines, "fence devices rebuilt: the next fence and the device checks use them")
	}
	if !reflect.DeepEqual(running.Alerts, merged.Alerts) {
		a.alerts.SetAlerts(merged.Alerts)
		lines = append(lines, fmt.Sprintf("alert hooks replaced (%d configured)", len(merged.Alerts)))
	}
	if !reflect.DeepEqual([2]any{running.Orders, running.Colocations}, [2]any{merged.Orders, merged.Colocations}) {
		lines = append(lines, "order/colocate constraints applied by the leader's next decision")
	}
	a.live.Store(merged)
	a.coord.SetConfig(merged)
	a.api.SetConfig(merged)
	return lines, nil
}
