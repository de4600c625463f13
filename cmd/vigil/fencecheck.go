package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/cluster/api"
)

// fenceCheck is `vigil fence -check NODE`: NODE's fence devices checked
// from the agent's node, one line each; exit 1 when any fails.
func fenceCheck(ui cli.Ui, cl *api.Client, node string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := cl.FenceCheck(ctx, node)
	if err != nil {
		return fail(ui, err)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tFENCES\tCHECKED FROM\tRESULT\t")
	failed := false
	for _, d := range res {
		r := d.State
		if d.Error != "" {
			r += ": " + d.Error
		}
		failed = failed || d.State != "ok"
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", d.Device, d.Target, d.Node, r)
	}
	tw.Flush()
	ui.Output(strings.TrimRight(b.String(), "\n"))
	if failed {
		return 1
	}
	return 0
}
