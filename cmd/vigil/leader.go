package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
)

type leaderTransferCmd struct{ ui cli.Ui }

func (c *leaderTransferCmd) Synopsis() string { return "Move raft leadership to another voter" }
func (c *leaderTransferCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil leader transfer [NODE]

  Hands raft leadership (and with it the coordinator) to NODE, or to the
  most up-to-date other voter, e.g. before maintenance on the leader. Groups
  stay where they are. Prints the new leader.`)
}

func (c *leaderTransferCmd) Run(args []string) int {
	fs := newFlagSet("leader transfer", c.ui)
	cl, rest, ok := connect(c.ui, fs, args, 0, 1, c.Help())
	if !ok {
		return 1
	}
	node := ""
	if len(rest) == 1 {
		node = rest[0]
	}
	ctx, cancel := ctx()
	defer cancel()
	leader, err := cl.LeaderTransfer(ctx, node)
	if err != nil {
		return fail(c.ui, err)
	}
	if leader == "" {
		c.ui.Output("leadership transferred; no new leader elected yet")
		return 0
	}
	c.ui.Output(fmt.Sprintf("leader is now %s", leader))
	return 0
}
