package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/cluster/sdnotify"
	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/internal/sched"
	"github.com/vigil-ha/vigil/resources/ipaddr"
)

// defaultNice is the agent's CPU priority unless -nice says otherwise.
const defaultNice = -10

type agentCmd struct{ ui cli.Ui }

func (c *agentCmd) Synopsis() string { return "Run the vigil agent" }
func (c *agentCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil agent -config PATH
       vigil agent -dev [-data-dir DIR]

  Runs the vigil agent: cluster membership, raft, the leader's coordinator,
  the local executor and the API.

  -config PATH    an HCL file, or a directory of *.hcl files
  -dev            single-node cluster on 127.0.0.1 with a demo group; no
                  config, keys or certificates needed (not for production)
  -data-dir DIR   with -dev: where to keep state (default: a new temp dir)
  -log-level L    trace, debug, info, warn, error (overrides the config)
  -log-json       log as JSON
  -nice N         the agent's CPU priority (default -10; 0 leaves it as
                  started). Like corosync and keepalived, the agent raises
                  its own priority so that other busy processes cannot
                  starve its heartbeats and leases; the processes it starts
                  (resource, fence and check agents) run at priority 0.

  SIGTERM or SIGINT hands this node's groups over to another node, then
  stops what is left (in maintenance: leaves everything running). A second
  signal removes the addresses and exits at once. The exit status is
  non-zero, naming each resource, when something is still running.
`)
}

func (c *agentCmd) Run(args []string) int {
	fs := newFlagSet("agent", c.ui)
	var path, dataDir, level string
	var dev, jsonLog bool
	fs.StringVar(&path, "config", "", "")
	fs.BoolVar(&dev, "dev", false, "")
	fs.StringVar(&dataDir, "data-dir", "", "")
	fs.StringVar(&level, "log-level", "", "")
	fs.BoolVar(&jsonLog, "log-json", false, "")
	nice := fs.Int("nice", defaultNice, "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	if *nice < -20 || *nice > 19 {
		return fail(c.ui, fmt.Errorf("-nice %d: must be between -20 and 19", *nice))
	}
	// Before anything else starts threads: new threads inherit it.
	var niceErr error
	if *nice != 0 {
		niceErr = sched.Raise(*nice)
	}
	cfg, err := loadAgentConfig(path, dev, dataDir)
	if err != nil {
		return fail(c.ui, err)
	}
	if level == "" {
		level = cfg.LogLevel
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "vigil", Level: hclog.LevelFromString(level), JSONFormat: jsonLog, Output: os.Stderr})
	if niceErr != nil {
		log.Warn("cannot raise the agent's CPU priority; heartbeats and leases may starve on a busy machine", "error", niceErr)
	}
	res := resourceRegistry()
	if lt := agent.GuardedLifetime(cfg); lt > 0 {
		res["ipaddr"] = ipaddr.NewWithLifetime(lt) // the crash guard renews it
	}
	a, err := agent.New(agent.Deps{Config: cfg, Logger: log, Resources: res,
		Fencers: fenceRegistry(), Checks: checkRegistry(), Version: version,
		Notify: sdnotify.FromEnv(os.Getenv), // Type=notify under systemd
		Load:   reloader(path, dev)})
	if err != nil {
		return fail(c.ui, err)
	}
	if dev {
		self := "vigil"
		if strings.Contains(os.Args[0], "go-build") {
			self = "go run ./cmd/vigil" // started with go run: there is no vigil on the PATH
		}
		c.ui.Output(fmt.Sprintf("vigil dev agent: data in %s, API on %s; in another terminal try:\n"+
			"  %[3]s status\n"+
			"  %[3]s node standby dev    (then: node online dev)\n"+
			"  %[3]s history\n",
			cfg.DataDir, cfg.Cluster.API.Socket, self))
	}
	startPanicSwitch()
	defer startCPUProfile(log, "")()
	// The first SIGTERM/SIGINT shuts down cleanly (groups handed over, then
	// stopped); a second one cuts that short: addresses removed, exit now.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		cancel()
		select {
		case <-sigs:
			a.Hurry()
		case <-done:
		}
	}()
	watchHUP(ctx, a, log)
	if err := a.Run(ctx); err != nil {
		// Non-zero, naming what is still running: a service manager or an
		// operator must not take this for a clean stop.
		return fail(c.ui, err)
	}
	return 0
}

func loadAgentConfig(path string, dev bool, dataDir string) (*configs.Config, error) {
	switch {
	case dev && path != "":
		return nil, errors.New("use either -dev or -config, not both")
	case dev:
		if dataDir == "" {
			d, err := os.MkdirTemp("", "vigil-dev-")
			if err != nil {
				return nil, err
			}
			dataDir = d
		}
		cfg := configs.Dev(dataDir)
		// A fixed per-user socket, which the CLI tries without flags.
		cfg.Cluster.API.Socket = devSocket(os.Getuid())
		if err := privateDir(filepath.Dir(cfg.Cluster.API.Socket)); err != nil {
			return nil, err
		}
		return cfg, configs.Validate(cfg, builtin.Schemas())
	case path == "":
		return nil, errors.New("no configuration: pass -config PATH, or -dev to try vigil on this machine")
	}
	cfg, err := configs.Load(path, builtin.Schemas())
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if err := checkAgents(cfg); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

var _ = flag.ContinueOnError
