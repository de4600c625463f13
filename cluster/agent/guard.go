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
		Every:  guardEvery(a.cfg.Cluster.Timing),
		Logger: a.log.Named("crashguard"),
		// a.exec is set before anything runs; the client calls this only
		// from Run and the executor's own calls.
		Lapsed: func() { a.exec.GuardLapsed() },
	})
}

// guardEvery is how often the agent looks whether its guard's deadline is
// due for renewal (guard.Client dueLocked): a fifth of the shortest lease
// window (a leader's: its leader lease after a quorum last answered). The
// deadline is the lease end at the renewal, so the guard acts on a lease
// that lapsed, not on a renewal that came late (fast: 20 ms, leaving 80 ms
// of a leader's lease in hand; lan 100 ms of 500, wan 300 ms). It was
// capped at 50 ms: at lan a sixth of an idle leader's wake-ups, where the
// deadline is renewed three looks before it (300 ms) anyway.
func guardEvery(t configs.Timing) time.Duration {
	return max(5*time.Millisecond, min(t.RaftLeaderLease/5, t.Lease/5))
}
