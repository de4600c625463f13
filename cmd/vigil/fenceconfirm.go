package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/cluster/api"
)

// confirmDown is `vigil fence -confirm NODE`.
func confirmDown(ui cli.Ui, cl *api.Client, node string, yes bool) int {
	if !yes && !typedName(ui, fmt.Sprintf("Is node %s powered off, and will it stay off until it reboots?", node), node) {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ConfirmDown(ctx, node); err != nil {
		return fail(ui, err)
	}
	ui.Output(fmt.Sprintf("node %s recorded as fenced on your confirmation", node))
	return 0
}

// typedName asks question and wants node's name typed back; anything else
// does nothing (it says so).
func typedName(ui cli.Ui, question, node string) bool {
	ans, err := ui.Ask(question + " Type the node name to confirm:")
	if err != nil || strings.TrimSpace(ans) != node {
		ui.Error("not confirmed; nothing done")
		return false
	}
	return true
}
