package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
)

type reloadCmd struct{ ui cli.Ui }

func (c *reloadCmd) Synopsis() string { return "Re-read the local agent's configuration" }
func (c *reloadCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil reload

  Asks the local agent to re-read its configuration, like SIGHUP. The whole
  configuration is validated first: an invalid file changes nothing and the
  error names file:line. Then the agent applies what it can change while
  running: the log level; the node certificate and key, re-read from the
  same files (new connections use them; established ones are kept); groups
  (added ones are placed, removed ones stopped and dropped) and resources (a
  resource whose type or parameters changed is restarted in place on its
  holder, with the resources after it in its group, as Pacemaker does;
  changed timeouts and intervals apply without a restart); health checks;
  order/colocate constraints; fence devices; alert hooks. Groups that did
  not change are not touched. Nodes, timing, listeners, paths and TLS file
  names are listed as waiting for a restart of the agent, and 'vigil
  status' names them until then: restart one node at a time.

  Run it on every node after changing the files there. Each node gossips a
  hash of its running cluster-wide configuration, and 'vigil status' warns
  while the nodes' hashes differ. See docs/operations.md.`)
}

func (c *reloadCmd) Run(args []string) int {
	fs := newFlagSet("reload", c.ui)
	cl, _, ok := connect(c.ui, fs, args, 0, 0, c.Help())
	if !ok {
		return 1
	}
	ctx, cancel := ctx()
	defer cancel()
	r, err := cl.Reload(ctx)
	if err != nil {
		return fail(c.ui, err)
	}
	if len(r.Applied) == 0 && len(r.Pending) == 0 {
		c.ui.Output("configuration reloaded: no changes")
	}
	for _, a := range r.Applied {
		c.ui.Output("applied: " + a)
	}
	for _, p := range r.Pending {
		c.ui.Output(fmt.Sprintf("NOT applied: %s %s", p.Section, p.Why))
	}
	c.ui.Output("running configuration hash " + r.Hash)
	return 0
}
