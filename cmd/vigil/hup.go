package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/configs"
)

// reloader re-reads the configuration the agent started with (nil in dev
// mode: there is no file).
func reloader(path string, dev bool) func() (*configs.Config, error) {
	if dev {
		return nil
	}
	return func() (*configs.Config, error) {
		cfg, err := configs.Load(path, builtin.Schemas())
		if err != nil {
			return nil, fmt.Errorf("invalid configuration, nothing changed:\n%w", err)
		}
		if err := checkAgents(cfg); err != nil {
			return nil, fmt.Errorf("invalid configuration, nothing changed:\n%w", err)
		}
		return cfg, nil
	}
}

// watchHUP reloads the configuration on SIGHUP (like keepalived), logging
// what was applied and what waits for a restart, until ctx ends.
func watchHUP(ctx context.Context, a *agent.Agent, log hclog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r, err := a.Reload()
				if err != nil {
					log.Error("SIGHUP: reload refused", "error", err)
					continue
				}
				for _, p := range r.Pending {
					log.Warn("SIGHUP: change not applied", "section", p.Section, "why", p.Why)
				}
			}
		}
	}()
}
