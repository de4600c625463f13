package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// clientFlags are shared by every command that talks to an agent.
type clientFlags struct {
	address, config, ca, cert, key string
	fs                             *flag.FlagSet
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	c.fs = fs
	fs.StringVar(&c.address, "address", os.Getenv("VIGIL_ADDR"), "")
	fs.StringVar(&c.config, "config", os.Getenv("VIGIL_CONFIG"), "")
	fs.StringVar(&c.ca, "ca-file", os.Getenv("VIGIL_CACERT"), "")
	fs.StringVar(&c.cert, "cert-file", os.Getenv("VIGIL_CLIENT_CERT"), "")
	fs.StringVar(&c.key, "key-file", os.Getenv("VIGIL_CLIENT_KEY"), "")
}

func (c *clientFlags) client() (*api.Client, error) {
	var conf *tls.Config
	if c.ca != "" || c.cert != "" || c.key != "" {
		t, err := tlsutil.Load(c.ca, c.cert, c.key)
		if err != nil {
			return nil, fmt.Errorf("client TLS: %w", err)
		}
		conf = t
	}
	address := c.address
	// A -config on the command line beats VIGIL_ADDR from the environment.
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["config"] && !set["address"] {
		address = ""
	}
	addr, err := findAgent(address, c.config, defaultSockets(os.Getuid()))
	if err != nil {
		return nil, err
	}
	return api.NewClient(addr, conf)
}

func newFlagSet(name string, ui cli.Ui) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by fail
	return fs
}

// parse parses flags (before or after the positional arguments, so
// `vigil node standby lb1 -address ...` works) and checks the count.
func parse(ui cli.Ui, fs *flag.FlagSet, args []string, min, max int, usage string) ([]string, bool) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			ui.Error(fmt.Sprintf("vigil %s: %v\n%s", fs.Name(), err, usage))
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			rest = append(rest, args[1:]...)
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		ui.Error(fmt.Sprintf("vigil %s: wrong number of arguments\n%s", fs.Name(), usage))
		return nil, false
	}
	return rest, true
}

// connect parses a command that talks to the agent (its own flags are
// already defined on fs), adding the client flags, and builds the client.
func connect(ui cli.Ui, fs *flag.FlagSet, args []string, min, max int, usage string) (*api.Client, []string, bool) {
	var cf clientFlags
	cf.register(fs)
	rest, ok := parse(ui, fs, args, min, max, usage)
	if !ok {
		return nil, nil, false
	}
	cl, err := cf.client()
	if err != nil {
		fail(ui, err)
		return nil, nil, false
	}
	return cl, rest, true
}

func fail(ui cli.Ui, err error) int {
	ui.Error("Error: " + err.Error())
	return 1
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}
