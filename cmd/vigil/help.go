package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
)

// dispatch runs one CLI invocation. It answers `vigil`, `vigil help` and
// `vigil help CMD...` itself (exit 0), and names an unknown command with a
// suggestion (exit 1) instead of printing only the usage.
func dispatch(ui cli.Ui, out, errOut io.Writer, args []string) int {
	cmds := commands(ui)
	isHelp := func(s string) bool { return s == "help" || s == "-h" || s == "-help" || s == "--help" }
	switch {
	case len(args) == 0 || len(args) == 1 && isHelp(args[0]):
		fmt.Fprintln(out, cli.BasicHelpFunc("vigil")(topLevel(cmds)))
		return 0
	case args[0] == "help":
		name := strings.Join(args[1:], " ")
		f, ok := cmds[name]
		if !ok {
			fmt.Fprintln(errOut, unknown(cmds, args[1:]))
			return 1
		}
		c, _ := f()
		fmt.Fprintln(out, strings.TrimRight(c.Help(), "\n"))
		if subs := subcommands(cmds, name); len(subs) > 0 {
			fmt.Fprintln(out, "\nSubcommands:")
			for _, s := range subs {
				sc, _ := cmds[s]()
				fmt.Fprintf(out, "    %-20s %s\n", strings.TrimPrefix(s, name+" "), sc.Synopsis())
			}
		}
		return 0
	}
	// The longest run of leading words that names a command.
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	known := 0
	for i := len(words); i > 0; i-- {
		if _, ok := cmds[strings.Join(words[:i], " ")]; ok {
			known = i
			break
		}
	}
	parent := strings.Join(words[:known], " ")
	if len(words) > 0 && (known == 0 || known < len(words) && len(subcommands(cmds, parent)) > 0) {
		fmt.Fprintln(errOut, unknown(cmds, words[:known+1]))
		return 1
	}
	c := cli.NewCLI("vigil", version)
	c.Args = args
	c.Commands = cmds
	c.HelpWriter = out
	c.ErrorWriter = errOut
	code, err := c.Run()
	if err != nil {
		fmt.Fprintln(errOut, "vigil:", err)
		return 1
	}
	return code
}

// unknown explains that words name no command and suggests the closest.
func unknown(cmds map[string]cli.CommandFactory, words []string) string {
	name := strings.Join(words, " ")
	parent := strings.Join(words[:len(words)-1], " ")
	var candidates []string
	if parent == "" {
		candidates = keys(topLevel(cmds))
	} else {
		for _, s := range subcommands(cmds, parent) {
			candidates = append(candidates, strings.TrimPrefix(s, parent+" "))
		}
	}
	msg := fmt.Sprintf("vigil: unknown command %q.", name)
	if best := closest(words[len(words)-1], candidates); best != "" {
		msg += fmt.Sprintf(" Did you mean %q?", strings.TrimSpace(parent+" "+best))
	}
	return msg + " Run `vigil help` for the list of commands."
}

// hidden commands are run by vigil itself, not by operators.
func hidden(name string) bool { return name == "guard" }

func topLevel(cmds map[string]cli.CommandFactory) map[string]cli.CommandFactory {
	out := map[string]cli.CommandFactory{}
	for k, v := range cmds {
		if !strings.Contains(k, " ") && !hidden(k) {
			out[k] = v
		}
	}
	return out
}

func subcommands(cmds map[string]cli.CommandFactory, parent string) []string {
	var out []string
	for k := range cmds {
		if rest, ok := strings.CutPrefix(k, parent+" "); ok && parent != "" && !strings.Contains(rest, " ") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[string]cli.CommandFactory) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closest returns the candidate within a small edit distance of word, or a
// candidate word starts, or "".
func closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD || d == bestD && best == "" && d <= len(c)/2 {
			best, bestD = c, d
		}
	}
	if best == "" {
		for _, c := range candidates {
			if len(word) >= 2 && strings.HasPrefix(c, word) {
				return c
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
