package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/arbitrator"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

type arbitratorCmd struct{ ui cli.Ui }

func (c *arbitratorCmd) Synopsis() string {
	return "Run the tie-breaker that two_node pairs ask for a vote (like corosync-qnetd)"
}

func (c *arbitratorCmd) Help() string {
	return `Usage: vigil arbitrator -listen HOST:PORT -ca FILE -cert FILE -key FILE -state FILE

  Runs on a third machine that is not a cluster member. Serves any number of
  two_node clusters over mutual TLS: when the two nodes of a pair lose each
  other, the first to ask gets the cluster's vote and may continue alone; the
  vote stays with it (stored in -state) until it reports its pair working
  again.

  -listen   address to listen on
  -ca       PEM bundle with the CA of every cluster served (clients must
            present a certificate signed by one of them; a cluster name is
            bound to the CA that first used it)
  -cert     this arbitrator's certificate (its CA goes into each cluster's
            cluster { arbitrator { ca_file = ... } })
  -key      its key (mode 0600)
  -state    file that keeps the votes across restarts
  -log-level trace|debug|info|warn|error (default info)`
}

func (c *arbitratorCmd) Run(args []string) int {
	fs := newFlagSet("arbitrator", c.ui)
	listen := fs.String("listen", "", "")
	ca := fs.String("ca", "", "")
	cert := fs.String("cert", "", "")
	key := fs.String("key", "", "")
	statePath := fs.String("state", "", "")
	level := fs.String("log-level", "info", "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	if *listen == "" || *ca == "" || *cert == "" || *key == "" || *statePath == "" {
		return fail(c.ui, errors.New("-listen, -ca, -cert, -key and -state are required\n\n"+c.Help()))
	}
	t, err := tlsutil.Load(*ca, *cert, *key)
	if err != nil {
		return fail(c.ui, err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "vigil-arbitrator", Level: hclog.LevelFromString(*level)})
	s, err := arbitrator.New(arbitrator.Config{TLS: t, StatePath: *statePath, Logger: log})
	if err != nil {
		return fail(c.ui, err)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(c.ui, fmt.Errorf("listen: %w", err))
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	log.Info("arbitrator running", "listen", l.Addr().String(), "state", *statePath)
	if err := s.Serve(ctx, l); err != nil {
		return fail(c.ui, err)
	}
	return 0
}
