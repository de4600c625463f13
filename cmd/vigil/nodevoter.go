package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/cluster/api"
)

type nodeVoterCmd struct {
	ui cli.Ui
	op string // add | remove
}

func (c *nodeVoterCmd) Synopsis() string {
	if c.op == "add" {
		return "Make a configured node a raft voter (new node, or a replaced machine)"
	}
	return "Remove a node from the raft voters"
}

func (c *nodeVoterCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil node add NAME [-address HOST:PORT] [-heartbeat HOST:PORT]
         (-address HOST:PORT is the node's cluster address; the agent to
         talk to, if given, is a URL: -address unix:///path or https://...)
       vigil node remove NAME

  Changes raft's voter set at runtime (raft AddVoter / RemoveServer on the
  leader; a follower forwards the request). Voters come from the
  configuration only at the very first start; afterwards this is how they
  change.

  add:    NAME must have a node block in the configuration of every node
          (update the files and restart the agents one at a time first: the
          heartbeat link and the cluster port accept configured nodes only).
          -address and -heartbeat, if given, must match that block. Adding
          an existing voter with a new address moves it (a replacement
          machine with a new IP).
  remove: drops NAME from the voters (a failed machine; or before retiring
          a node). Refused while NAME runs a group ('vigil node standby'
          it first). Remove its node block afterwards.

  Both are refused when the voters the leader is in contact with would not
  be a majority of the new voter set; the leader cannot remove itself
  ('vigil leader transfer' first). A change that leaves an even number of
  voters is done, with a warning. 'vigil status' warns while the
  configuration and raft's voters disagree. See docs/operations.md for
  replacing a failed node.`)
}

func (c *nodeVoterCmd) Run(args []string) int {
	fs := newFlagSet("node "+c.op, c.ui)
	var address, heartbeat string
	if c.op == "add" {
		fs.StringVar(&address, "node-address", "", "")
		fs.StringVar(&heartbeat, "heartbeat", "", "")
		args = splitAddress(args)
	}
	cl, rest, ok := connect(c.ui, fs, args, 1, 1, c.Help())
	if !ok {
		return 1
	}
	ctx, cancel := ctx()
	defer cancel()
	r, err := cl.ChangeVoter(ctx, api.VoterRequest{Op: c.op, Node: rest[0], Address: address, Heartbeat: heartbeat})
	if err != nil {
		return fail(c.ui, err)
	}
	if r.NoOp {
		c.ui.Output("nothing to change")
	}
	c.ui.Output(fmt.Sprintf("raft voters: %s", strings.Join(r.Voters, ", ")))
	if r.Warning != "" {
		c.ui.Warn("Warning: " + r.Warning)
	}
	return 0
}

// splitAddress tells the two meanings of -address in `node add` apart: the
// agent to talk to is a URL (unix:///..., https://...), the new node's
// cluster address is HOST:PORT and becomes -node-address.
func splitAddress(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "address" {
			out = append(out, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				out = append(out, a)
				continue
			}
			i++
			val = args[i]
		}
		if strings.Contains(val, "://") {
			out = append(out, "-address="+val)
		} else {
			out = append(out, "-node-address="+val)
		}
	}
	return out
}
