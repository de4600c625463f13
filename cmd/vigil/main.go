// Command vigil is the vigil agent and its admin CLI.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ui := &cli.BasicUi{Reader: os.Stdin, Writer: os.Stdout, ErrorWriter: os.Stderr}
	c := cli.NewCLI("vigil", version)
	c.Args = args
	c.Commands = commands(ui)
	c.HelpWriter = os.Stdout
	code, err := c.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		return 1
	}
	return code
}

func commands(ui cli.Ui) map[string]cli.CommandFactory {
	f := func(c cli.Command) cli.CommandFactory { return func() (cli.Command, error) { return c, nil } }
	return map[string]cli.CommandFactory{
		"agent":            f(&agentCmd{ui: ui}),
		"arbitrator":       f(&arbitratorCmd{ui: ui}),
		"status":           f(&statusCmd{ui: ui}),
		"members":          f(&membersCmd{ui: ui}),
		"history":          f(&historyCmd{ui: ui}),
		"node":             f(&groupHelp{synopsis: "Put nodes in standby or back online", help: "Usage: vigil node standby|online NAME"}),
		"node standby":     f(&standbyCmd{ui: ui, on: true}),
		"node online":      f(&standbyCmd{ui: ui, on: false}),
		"resource":         f(&groupHelp{synopsis: "Move, clear, clean up or restart resource groups", help: "Usage: vigil resource move|clear|cleanup|restart GROUP [NODE]"}),
		"resource move":    f(&resourceCmd{ui: ui, op: "move"}),
		"resource clear":   f(&resourceCmd{ui: ui, op: "clear"}),
		"resource cleanup": f(&resourceCmd{ui: ui, op: "cleanup"}),
		"resource restart": f(&resourceCmd{ui: ui, op: "restart"}),
		"maintenance":      f(&maintenanceCmd{ui: ui}),
		"fence":            f(&fenceCmd{ui: ui}),
		"config":           f(&groupHelp{synopsis: "Check configuration files", help: "Usage: vigil config validate PATH"}),
		"config validate":  f(&validateCmd{ui: ui}),
		"keygen":           f(&keygenCmd{ui: ui}),
		"tls":              f(&groupHelp{synopsis: "Create the cluster's CA and node certificates", help: "Usage: vigil tls ca create | vigil tls cert create -node NAME"}),
		"tls ca":           f(&groupHelp{synopsis: "Certificate authority", help: "Usage: vigil tls ca create [-dir DIR]"}),
		"tls ca create":    f(&tlsCACmd{ui: ui}),
		"tls cert":         f(&groupHelp{synopsis: "Node certificates", help: "Usage: vigil tls cert create -node NAME [-ip IP]... [-dir DIR]"}),
		"tls cert create":  f(&tlsCertCmd{ui: ui}),
		"version":          f(&versionCmd{ui: ui}),
	}
}

// groupHelp is the parent of subcommands ("vigil node").
type groupHelp struct{ synopsis, help string }

func (g *groupHelp) Help() string     { return g.help }
func (g *groupHelp) Synopsis() string { return g.synopsis }
func (g *groupHelp) Run([]string) int { return cli.RunResultHelp }

type versionCmd struct{ ui cli.Ui }

func (v *versionCmd) Help() string     { return "Usage: vigil version" }
func (v *versionCmd) Synopsis() string { return "Print the version" }
func (v *versionCmd) Run([]string) int { v.ui.Output("vigil " + version); return 0 }
