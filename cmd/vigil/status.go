package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/cluster/api"
)

type statusCmd struct{ ui cli.Ui }

func (c *statusCmd) Synopsis() string { return "Show the cluster: nodes, groups, fencing, warnings" }
func (c *statusCmd) Help() string {
	return strings.TrimSpace(`
Usage: vigil status [-json] [-stale] [-check]

  Shows the cluster as the leader sees it (forwarded when asked on a
  follower): quorum, leader, each node's state and link health, each group
  and resource, fencing history and warnings.

  -json    machine-readable output
  -stale   answer from this node's own view without asking the leader
  -check   monitoring plugin mode (Nagios, Icinga, NRPE): one line and
           exit 0 OK, 1 WARNING (node lost unfenced or fenced, fence device
           failing, link down, maintenance, other warnings), 2 CRITICAL (no
           quorum or leader, a group runs nowhere, agent unreachable)
`)
}

func (c *statusCmd) Run(args []string) int {
	fs := newFlagSet("status", c.ui)
	var asJSON, stale, check bool
	fs.BoolVar(&asJSON, "json", false, "")
	fs.BoolVar(&stale, "stale", false, "")
	fs.BoolVar(&check, "check", false, "")
	var cf clientFlags
	cf.register(fs)
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	ctx, cancel := ctx()
	defer cancel()
	cl, err := cf.client()
	var st api.Status
	if err == nil {
		st, err = cl.Status(ctx, stale)
	}
	if err != nil && check {
		c.ui.Output("VIGIL CRITICAL - " + strings.ReplaceAll(err.Error(), "\n", " "))
		return checkCritical
	}
	if err != nil {
		return fail(c.ui, err)
	}
	if check {
		code, line := checkStatus(st)
		c.ui.Output(line)
		return code
	}
	var b strings.Builder
	if asJSON {
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	} else {
		writeStatus(&b, st, time.Now())
	}
	c.ui.Output(strings.TrimRight(b.String(), "\n"))
	return 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// writeStatus renders a crm_mon-like screen.
func writeStatus(w io.Writer, st api.Status, now time.Time) {
	leader := st.Leader
	if leader == "" {
		leader = "NONE"
	}
	fmt.Fprintf(w, "Cluster %s: leader %s (term %d), quorum %s, answered by %s\n", st.Cluster, leader, st.Term, yesNo(st.Quorum), st.Node)
	if st.Maintenance {
		fmt.Fprintln(w, "*** MAINTENANCE MODE: vigil starts, stops and moves nothing ***")
	}
	fmt.Fprintln(w, "\nNodes:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tROLE\tSTATE\tHEARTBEAT\tCLUSTER-LINK\tCERT-EXPIRES\t")
	for _, n := range st.Nodes {
		name := n.Name
		if n.Leader {
			name += " (leader)"
		}
		expires := "-"
		if !n.CertExpires.IsZero() {
			expires = n.CertExpires.Local().Format("2006-01-02")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\n", name, n.Role, n.State, n.Heartbeat, n.ClusterLink, expires)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nGroups:")
	if len(st.Groups) == 0 {
		fmt.Fprintln(w, "  (none configured)")
	}
	for _, g := range st.Groups {
		where := "stopped"
		if g.Node != "" {
			where = g.State + " on " + g.Node
		} else if g.State != "stopped" {
			where = g.State
		}
		extra := ""
		switch {
		case g.Maintenance:
			extra = " [maintenance]"
		case g.Unmanaged && !st.Maintenance:
			extra = " [left as it was in maintenance; its node has not reported since]"
		}
		if g.Moves > 0 {
			extra += fmt.Sprintf(" (moves: %d, health-driven: %d)", g.Moves, g.HealthMoves)
		}
		fmt.Fprintf(w, "  %s: %s%s\n", g.Name, where, extra)
		if g.Reason != "" {
			fmt.Fprintf(w, "    (%s)\n", g.Reason)
		}
		if g.Pin != "" {
			fmt.Fprintf(w, "    %s\n", g.Pin)
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, r := range g.Resources {
			fail := ""
			if r.FailCount > 0 {
				fail = fmt.Sprintf("fail-count %d", r.FailCount)
			}
			if r.LastFailure != "" {
				fail += fmt.Sprintf(" last failure %s ago: %s", now.Sub(r.LastFailAt).Round(time.Second), r.LastFailure)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", r.Name, r.Type, r.State, strings.TrimSpace(fail))
		}
		tw.Flush()
	}
	if len(st.Checks) > 0 {
		fmt.Fprintln(w, "\nHealth checks:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tGROUP\tCHECK\tSTATE\tCOUNT\tLAST OUTPUT\t")
		for _, c := range st.Checks {
			grp := c.Group
			if grp == "" {
				grp = "(node)"
			}
			out := c.Output
			if len(out) > 60 {
				out = out[:57] + "..."
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t\n", c.Node, grp, c.Name, c.State, c.Consecutive, out)
		}
		tw.Flush()
	}
	if len(st.Fencing) > 0 {
		fmt.Fprintln(w, "\nFencing history:")
		for _, f := range lastFences(st.Fencing, 5) {
			line := fmt.Sprintf("  %s  %s via %s: %s in %s (%s)", f.Time.Local().Format("2006-01-02 15:04:05 MST"),
				f.Target, f.Device, f.Result, f.Duration.Round(time.Millisecond), f.Reason)
			if f.Error != "" {
				line += ": " + f.Error
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, x := range st.Warnings {
			fmt.Fprintln(w, "  - "+x)
		}
	}
}

func lastFences(f []api.FenceRecord, n int) []api.FenceRecord {
	if len(f) > n {
		return f[len(f)-n:]
	}
	return f
}

type membersCmd struct{ ui cli.Ui }

func (c *membersCmd) Synopsis() string { return "Show the heartbeat link's members" }
func (c *membersCmd) Help() string {
	return "Usage: vigil members [-json] [-address unix:///path/vigil.sock]\n\n  Lists the nodes memberlist sees on the dedicated heartbeat link."
}

func (c *membersCmd) Run(args []string) int {
	fs := newFlagSet("members", c.ui)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	cl, _, ok := connect(c.ui, fs, args, 0, 0, c.Help())
	if !ok {
		return 1
	}
	ctx, cancel := ctx()
	defer cancel()
	ms, err := cl.Members(ctx)
	if err != nil {
		return fail(c.ui, err)
	}
	var b strings.Builder
	if asJSON {
		_ = json.NewEncoder(&b).Encode(ms)
	} else {
		tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tROLE\tVOTER\tLEADER\tVERSION")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\t%s\n", m.Name, m.Addr, m.State, m.Role, m.Voter, m.Leader, m.Meta["version"])
		}
		tw.Flush()
	}
	c.ui.Output(strings.TrimRight(b.String(), "\n"))
	return 0
}

type historyCmd struct{ ui cli.Ui }

func (c *historyCmd) Synopsis() string { return "Show the cluster's event history" }
func (c *historyCmd) Help() string {
	return "Usage: vigil history [-n N] [-json] [-address unix:///path/vigil.sock]\n\n  Shows the last N (default 50) replicated events: elections, node states, moves, failures, fencing."
}

func (c *historyCmd) Run(args []string) int {
	fs := newFlagSet("history", c.ui)
	var asJSON bool
	var n int
	fs.BoolVar(&asJSON, "json", false, "")
	fs.IntVar(&n, "n", 50, "")
	cl, _, ok := connect(c.ui, fs, args, 0, 0, c.Help())
	if !ok {
		return 1
	}
	if n <= 0 {
		return fail(c.ui, fmt.Errorf("-n must be positive, got %d", n))
	}
	ctx, cancel := ctx()
	defer cancel()
	ev, err := cl.History(ctx, n)
	if err != nil {
		return fail(c.ui, err)
	}
	var b strings.Builder
	if asJSON {
		_ = json.NewEncoder(&b).Encode(ev)
	} else {
		for _, e := range ev {
			fmt.Fprintf(&b, "%s  %-16s %s\n", e.Time.Local().Format("2006-01-02 15:04:05.000 MST"), e.Kind, e.Message)
		}
	}
	c.ui.Output(strings.TrimRight(b.String(), "\n"))
	return 0
}
