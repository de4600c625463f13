package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/guard"
	"github.com/vigil-ha/vigil/resources/ipaddr"
)

// guardCmd is the crash guard process the agent starts (hidden: operators
// never run it by hand).
type guardCmd struct{ ui cli.Ui }

func (c *guardCmd) Synopsis() string { return "Crash guard (started by the agent)" }
func (c *guardCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil guard -socket PATH -lifetime D [-node NAME]

  The crash guard. The agent starts it and renews its lease over PATH; when
  the agent exits, crashes or stops renewing, the guard removes the node's
  floating addresses at once. Not meant to be run by hand.
`)
}

func (c *guardCmd) Run(args []string) int {
	fs := newFlagSet("guard", c.ui)
	var socket, node string
	var lifetime time.Duration
	fs.StringVar(&socket, "socket", "", "")
	fs.StringVar(&node, "node", "", "")
	fs.DurationVar(&lifetime, "lifetime", 0, "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	if socket == "" {
		c.ui.Error("vigil guard: -socket is required\n" + c.Help())
		return 1
	}
	// SIGTERM, SIGINT and SIGHUP are for the agent: it stops its resources
	// and then lets the guard go. The guard leaves only when the agent's
	// connection closes (or by SIGKILL).
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// One processor: the guard's few goroutines take turns, and a second
	// one only woke idle threads for each request the agent sent.
	runtime.GOMAXPROCS(1)
	log := hclog.New(&hclog.LoggerOptions{Name: "vigil.guard", Level: hclog.Info, Output: os.Stderr}).With("node", node)
	defer startCPUProfile(log, ".guard")()
	err := guard.Serve(context.Background(), guard.Config{
		Socket: socket, Lifetime: lifetime, Logger: log,
		NewHolder: func(address, iface string) (guard.Holder, error) {
			return ipaddr.NewHolder(address, iface, log)
		},
		RenewAll: func(ctx context.Context, hs []guard.Holder, d time.Duration) error {
			list := make([]*ipaddr.Holder, 0, len(hs))
			for _, h := range hs {
				list = append(list, h.(*ipaddr.Holder)) // NewHolder made them all
			}
			return ipaddr.RenewAll(ctx, list, d)
		},
	})
	if err != nil {
		log.Error("crash guard", "error", err)
		return 1
	}
	log.Info("crash guard done: nothing left to guard")
	return 0
}
