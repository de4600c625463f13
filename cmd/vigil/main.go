// Command vigil is the vigil agent and its admin CLI.
package main

import (
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
	return dispatch(ui, os.Stdout, os.Stderr, args)
}

func commands(ui cli.Ui) map[string]cli.CommandFactory {
	f := func(c cli.Command) cli.CommandFactory { return func() (cli.Command, error) { return c, nil } }
	// conn marks a command that talks to the agent: its help lists how.
	conn := func(c cli.Command) cli.CommandFactory { return f(connCmd{c}) }
	return map[string]cli.CommandFactory{
		"agent":            f(&agentCmd{ui: ui}),
		"arbitrator":       f(&arbitratorCmd{ui: ui}),
		"status":           conn(&statusCmd{ui: ui}),
		"members":          conn(&membersCmd{ui: ui}),
		"history":          conn(&historyCmd{ui: ui}),
		"node":             f(&groupHelp{synopsis: "Put nodes in standby or back online", help: "Usage: vigil node standby|online|add|remove NAME"}),
		"node standby":     conn(&standbyCmd{ui: ui, on: true}),
		"node online":      conn(&standbyCmd{ui: ui, on: false}),
		"node add":         conn(&nodeVoterCmd{ui: ui, op: "add"}),
		"node remove":      conn(&nodeVoterCmd{ui: ui, op: "remove"}),
		"resource":         f(&groupHelp{synopsis: "Move, clear, clean up or restart resource groups", help: "Usage: vigil resource move|clear|cleanup|restart GROUP [NODE]"}),
		"resource move":    conn(&resourceCmd{ui: ui, op: "move"}),
		"resource clear":   conn(&resourceCmd{ui: ui, op: "clear"}),
		"resource cleanup": conn(&resourceCmd{ui: ui, op: "cleanup"}),
		"resource restart": conn(&resourceCmd{ui: ui, op: "restart"}),
		"maintenance":      conn(&maintenanceCmd{ui: ui}),
		"fence":            conn(&fenceCmd{ui: ui}),
		"config":           f(&groupHelp{synopsis: "Check configuration files", help: "Usage: vigil config validate PATH"}),
		"config validate":  f(&validateCmd{ui: ui}),
		"keygen":           f(&keygenCmd{ui: ui}),
		"tls":              f(&groupHelp{synopsis: "Create the cluster's CA and node certificates", help: "Usage: vigil tls ca create | vigil tls cert create -node NAME | vigil tls cert create -operator NAME"}),
		"tls ca":           f(&groupHelp{synopsis: "Certificate authority", help: "Usage: vigil tls ca create [-dir DIR]"}),
		"tls ca create":    f(&tlsCACmd{ui: ui}),
		"tls cert":         f(&groupHelp{synopsis: "Node certificates", help: "Usage: vigil tls cert create -node NAME [-ip IP]... [-dir DIR] | -operator NAME"}),
		"tls cert create":  f(&tlsCertCmd{ui: ui}),
		"version":          f(&versionCmd{ui: ui}),
		"leader":           f(&groupHelp{synopsis: "Move raft leadership on purpose", help: "Usage: vigil leader transfer [NODE]"}),
		"leader transfer":  conn(&leaderTransferCmd{ui: ui}),
		"guard":            f(&guardCmd{ui: ui}),
		"recover":          f(&recoverCmd{ui: ui}),
		"reload":           conn(&reloadCmd{ui: ui}),
		"keyring":          f(&groupHelp{synopsis: "Rotate the gossip key of a running cluster", help: "Usage: vigil keyring list | vigil keyring install|use|remove KEYFILE"}),
		"keyring list":     conn(&keyringCmd{ui: ui}),
		"keyring install":  conn(&keyringCmd{ui: ui, op: "install"}),
		"keyring use":      conn(&keyringCmd{ui: ui, op: "use"}),
		"keyring remove":   conn(&keyringCmd{ui: ui, op: "remove"}),
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
