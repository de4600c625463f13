package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"
)

type standbyCmd struct {
	ui cli.Ui
	on bool
}

func (c *standbyCmd) name() string {
	if c.on {
		return "standby"
	}
	return "online"
}

func (c *standbyCmd) Synopsis() string {
	if c.on {
		return "Drain a node: its groups move away and it hosts nothing"
	}
	return "Make a standby node eligible again"
}

func (c *standbyCmd) Help() string {
	h := fmt.Sprintf("Usage: vigil node %s NAME [-address unix:///path/vigil.sock]\n\n  %s. The flag is replicated and survives restarts.", c.name(), c.Synopsis())
	if !c.on {
		h += "\n\n  vigil node online -force-alone NAME, run on NAME of a two_node cluster, lets NAME start\n" +
			"  without having seen its peer (wait_for_all): it fences the absent peer and runs the groups alone."
	}
	return h
}

func (c *standbyCmd) Run(args []string) int {
	fs := newFlagSet("node "+c.name(), c.ui)
	var alone bool
	if !c.on {
		fs.BoolVar(&alone, "force-alone", false, "two_node: start this node alone, fencing its absent peer")
	}
	cl, rest, ok := connect(c.ui, fs, args, 1, 1, c.Help())
	if !ok {
		return 1
	}
	ctx, cancel := ctx()
	defer cancel()
	if alone {
		if err := cl.ForceAlone(ctx, rest[0]); err != nil {
			return fail(c.ui, err)
		}
		c.ui.Output(fmt.Sprintf("node %s: forced to start alone; it fences its peer if the peer does not appear", rest[0]))
		return 0
	}
	if err := cl.Standby(ctx, rest[0], c.on); err != nil {
		return fail(c.ui, err)
	}
	c.ui.Output(fmt.Sprintf("node %s: %s", rest[0], c.name()))
	return 0
}

type resourceCmd struct {
	ui cli.Ui
	op string
}

var resourceHelp = map[string]string{
	"move":    "Usage: vigil resource move GROUP NODE\n\n  Moves GROUP to NODE and keeps it there until `vigil resource clear GROUP`.",
	"clear":   "Usage: vigil resource clear GROUP\n\n  Removes the constraint left by `vigil resource move`.",
	"cleanup": "Usage: vigil resource cleanup GROUP\n\n  Forgets GROUP's fail counts on every node and unblocks it.",
	"restart": "Usage: vigil resource restart GROUP\n\n  Stops and starts GROUP in place on the node that runs it.",
}

func (c *resourceCmd) Synopsis() string { return strings.SplitN(resourceHelp[c.op], "\n\n  ", 2)[1] }
func (c *resourceCmd) Help() string     { return resourceHelp[c.op] }

func (c *resourceCmd) Run(args []string) int {
	fs := newFlagSet("resource "+c.op, c.ui)
	n := 1
	if c.op == "move" {
		n = 2
	}
	cl, rest, ok := connect(c.ui, fs, args, n, n, c.Help())
	if !ok {
		return 1
	}
	node := ""
	if c.op == "move" {
		node = rest[1]
	}
	ctx, cancel := ctx()
	defer cancel()
	if err := cl.Resource(ctx, c.op, rest[0], node); err != nil {
		return fail(c.ui, err)
	}
	c.ui.Output(fmt.Sprintf("group %s: %s requested", rest[0], c.op))
	return 0
}

type maintenanceCmd struct{ ui cli.Ui }

func (c *maintenanceCmd) Synopsis() string {
	return "Turn maintenance mode on or off (cluster or one group)"
}
func (c *maintenanceCmd) Help() string {
	return "Usage: vigil maintenance on|off [GROUP]\n\n  In maintenance vigil keeps its hands off (no start, stop, restart or move) and keeps reporting."
}

func (c *maintenanceCmd) Run(args []string) int {
	fs := newFlagSet("maintenance", c.ui)
	var cf clientFlags
	cf.register(fs)
	rest, ok := parse(c.ui, fs, args, 1, 2, c.Help())
	if !ok {
		return 1
	}
	if rest[0] != "on" && rest[0] != "off" {
		c.ui.Error(fmt.Sprintf("vigil maintenance: want on or off, got %q\n%s", rest[0], c.Help()))
		return 1
	}
	cl, err := cf.client()
	if err != nil {
		return fail(c.ui, err)
	}
	group := ""
	if len(rest) == 2 {
		group = rest[1]
	}
	ctx, cancel := ctx()
	defer cancel()
	if err := cl.Maintenance(ctx, group, rest[0] == "on"); err != nil {
		return fail(c.ui, err)
	}
	scope := "cluster"
	if group != "" {
		scope = "group " + group
	}
	c.ui.Output(fmt.Sprintf("maintenance %s for %s", rest[0], scope))
	return 0
}

type fenceCmd struct{ ui cli.Ui }

func (c *fenceCmd) Synopsis() string { return "Fence (power off) a node on purpose" }
func (c *fenceCmd) Help() string {
	return "Usage: vigil fence NODE [-yes]\n       vigil fence -confirm NODE [-yes]\n       vigil fence -check NODE\n\n  Asks the leader to power NODE off through its fencing devices and waits\n  until the power state reads off. Its groups then move. Asks for\n  confirmation unless -yes is given.\n\n  -confirm  use no device: you confirm that NODE is powered off (by hand, or\n            gone for good) and the leader records it as fenced, so that its\n            groups may start elsewhere. Refused while NODE shows life on\n            either link. If NODE is in fact running, its VIP may then be\n            held twice: be sure.\n  -check    only check NODE's fence devices from the agent's node now (their\n            status operation; the power is not touched). Exits 1 when one fails."
}

func (c *fenceCmd) Run(args []string) int {
	fs := newFlagSet("fence", c.ui)
	var yes, check, confirm bool
	fs.BoolVar(&yes, "yes", false, "")
	fs.BoolVar(&check, "check", false, "")
	fs.BoolVar(&confirm, "confirm", false, "")
	cl, rest, ok := connect(c.ui, fs, args, 1, 1, c.Help())
	if !ok {
		return 1
	}
	node := rest[0]
	if check {
		return fenceCheck(c.ui, cl, node)
	}
	if confirm {
		return confirmDown(c.ui, cl, node, yes)
	}
	if !yes && !typedName(c.ui, fmt.Sprintf("Power off node %s now?", node), node) {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cl.Fence(ctx, node); err != nil {
		return fail(c.ui, err)
	}
	c.ui.Output(fmt.Sprintf("node %s fenced (power confirmed off)", node))
	return 0
}
