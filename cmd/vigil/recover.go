package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/configs"
)

// recoverCmd is `vigil recover`: the way out of a majority of voters lost
// for good, with the agent stopped (consensus/recover.go).
type recoverCmd struct{ ui cli.Ui }

func (c *recoverCmd) Synopsis() string {
	return "Continue with the surviving voters after losing a majority for good (agent stopped)"
}

func (c *recoverCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil recover -config PATH -voters NAME[,NAME...] [-yes]

  For a cluster that lost a majority of its voters for good (two of three
  machines gone): the survivors can neither elect a leader nor change
  anything, and their leases have ended. With this node's agent stopped,
  rewrites the raft configuration stored in its data_dir to the voters
  named, this node among them (the others are removed). Run it with the
  same -voters on each of them, then start their agents: they elect a
  leader among themselves, and the lost nodes' groups move to them once
  those nodes' leases have run out.

  Only for voters that are gone: first make sure every voter not named is
  powered off and will not start its agent with its current data_dir.
  Started with its old data, the lost voters would still be a majority of
  the old configuration among themselves and could run the groups a second
  time. Bring them back as new nodes: empty data_dir, start the agent,
  'vigil node add NAME'. Refused while the agent runs, or when the voters
  named are a majority (they elect on their own: 'vigil node remove').

Options:
  -config PATH      this node's configuration (its name and data_dir)
  -voters NAMES     the voters that go on, comma-separated
  -yes              do not ask for the removed nodes' names to be typed`)
}

func (c *recoverCmd) Run(args []string) int {
	fs := newFlagSet("recover", c.ui)
	var path, voters string
	var yes bool
	fs.StringVar(&path, "config", "", "")
	fs.StringVar(&voters, "voters", "", "")
	fs.BoolVar(&yes, "yes", false, "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	if path == "" || voters == "" {
		c.ui.Error("vigil recover: -config and -voters are required\n" + c.Help())
		return 1
	}
	cfg, err := configs.Load(path, builtin.Schemas())
	if err != nil {
		return fail(c.ui, fmt.Errorf("invalid configuration:\n%w", err))
	}
	keep := strings.Split(voters, ",")
	for i := range keep {
		keep[i] = strings.TrimSpace(keep[i])
	}
	off, err := consensus.OpenOffline(consensus.Config{NodeID: cfg.NodeName, DataDir: cfg.DataDir,
		Timing: cfg.Cluster.Timing, ScratchFSM: state.ScratchFSM})
	if err != nil {
		if !errors.Is(err, consensus.ErrRecover) { // the store is locked, or unreadable
			err = fmt.Errorf("%w (stop this node's agent first)", err)
		}
		return fail(c.ui, err)
	}
	defer off.Close()
	servers, err := off.Servers()
	if err != nil {
		return fail(c.ui, err)
	}
	conf, dropped, err := consensus.PlanRecovery(servers, cfg.NodeName, keep)
	if err != nil {
		return fail(c.ui, err)
	}
	var kept []string
	for _, s := range conf.Servers {
		kept = append(kept, string(s.ID))
	}
	gone := strings.Join(dropped, ",")
	c.ui.Output(fmt.Sprintf("stored raft configuration (%s): %s\nkeeps %s; removes %s",
		cfg.DataDir, serverList(servers), strings.Join(kept, ", "), strings.Join(dropped, ", ")))
	if !yes {
		ans, err := c.ui.Ask(fmt.Sprintf("Are %s powered off, and will none of them start its agent before its "+
			"data_dir is emptied? Type their names (%s) to confirm:", strings.Join(dropped, ", "), gone))
		if err != nil || strings.ReplaceAll(strings.TrimSpace(ans), " ", "") != gone {
			c.ui.Error("not confirmed; nothing changed")
			return 1
		}
	}
	if err := off.Recover(conf); err != nil {
		return fail(c.ui, err)
	}
	note := consensus.RecoveryNote{Time: time.Now(), Voters: kept, Removed: dropped}
	if err := consensus.WriteRecoveryNote(cfg.DataDir, note); err != nil {
		c.ui.Warn("Warning: the recovery is done but will not show in `vigil history`: " + err.Error())
	}
	c.ui.Output(fmt.Sprintf("raft configuration rewritten: voters %s.", strings.Join(kept, ", ")))
	if len(kept) > 1 {
		c.ui.Output("Run the same `vigil recover -voters " + strings.Join(kept, ",") + "` on each of them before starting their agents.")
	}
	c.ui.Output(fmt.Sprintf("Start the agent. Before %s come back, empty their data_dir; then `vigil node add NAME` for each.",
		strings.Join(dropped, ", ")))
	return 0
}

// serverList is "lb1 (voter), lb2 (voter), ...".
func serverList(servers []raft.Server) string {
	var out []string
	for _, s := range servers {
		kind := "voter"
		if s.Suffrage != raft.Voter {
			kind = "non-voter"
		}
		out = append(out, fmt.Sprintf("%s (%s)", s.ID, kind))
	}
	return strings.Join(out, ", ")
}
