package agent

import (
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-ha/vigil/cluster/coordinator"
	"github.com/vigil-ha/vigil/cluster/guard"
	"github.com/vigil-ha/vigil/configs"
)

// GuardedLifetime is the kernel lifetime this node's floating addresses get
// (renewed by its crash guard), or 0 when the node runs no guard: a witness,
// the -dev agent, or a node whose groups have no ipaddr resource.
func GuardedLifetime(cfg *configs.Config) time.Duration {
	if cfg.Dev || cfg.Local().Witness {
		return 0
	}
	for _, g := range cfg.Groups {
		for _, r := range g.Resources {
			if r.Type == "ipaddr" {
				return coordinator.GuardParamsFor(cfg.Cluster.Timing).Lifetime
			}
		}
	}
	return 0
}

// guardSocket is in systemd's RuntimeDirectory when there is one (cleared
// at boot, like the addresses the guard would still hold), else under the
// data directory.
func (a *Agent) guardSocket() string {
	dir := filepath.Join(a.cfg.DataDir, "run")
	if rd := os.Getenv("RUNTIME_DIRECTORY"); rd != "" {
		dir = filepath.SplitList(rd)[0]
	}
	return filepath.Join(dir, "guard-"+a.cfg.NodeName+".sock")
}

func (a *Agent) newGuard() *guard.Client {
	sock := a.guardSocket()
	p := coordinator.GuardParamsFor(a.cfg.Cluster.Timing)
	return guard.NewClient(guard.ClientConfig{
		Socket: sock,
		// The running binary, even if the file was replaced by an upgrade.
		Command: []string{"/proc/self/exe", "guard", "-socket", sock, "-node", a.cfg.NodeName,
			"-lifetime", p.Lifetime.String()},
		Lease:  a.keeper.End,
		Every:  guardRenewEvery(a.cfg.Cluster.Timing),
		Logger: a.log.Named("crashguard"),
	})
}

// guardRenewEvery is how often the agent sends the guard its lease end: an
// eighth of the lease, at least 50 ms. The deadline the guard holds lags
// the agent's by at most that, and a held lease always ends more than that
// ahead (a follower renews every quarter of the lease), so the guard never
// sweeps a node that still holds its lease; sweeping later than the lease
// end cannot happen, the deadline sent is never later than the lease end.
func guardRenewEvery(t configs.Timing) time.Duration {
	return max(50*time.Millisecond, t.Lease/8)
}
