// Command wakes counts goroutine wake-ups by where each goroutine had
// blocked, from an execution trace printed by `go tool trace -d=parsed`:
// what wakes an idle agent, and how often (design.md, Idle cost).
//
//	go tool trace -d=parsed agent.trace | go run ./test/lab/cmd/wakes -skip 10s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	skip := flag.Duration("skip", 0, "leave out the trace's first part (the agent's start)")
	top := flag.Int("top", 25, "blocking sites to list")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *skip, *top); err != nil {
		fmt.Fprintln(os.Stderr, "wakes:", err)
		os.Exit(1)
	}
}

// A state transition line: its time, goroutine, and from -> to.
var transition = regexp.MustCompile(`Time=(\d+) GoID=(\d+) (\w+)->(\w+)`)

func run(in io.Reader, out io.Writer, skip time.Duration, top int) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	blocked := map[string]string{} // goroutine -> where it blocked
	counts := map[string]int{}
	var t0, first, last int64
	var pending []string // a Running->Waiting transition: goroutine, awaiting its stack
	var frames []string
	inStack := false
	flush := func() {
		if pending != nil {
			blocked[pending[0]] = site(frames)
		}
		pending, frames, inStack = nil, nil, false
	}
	for sc.Scan() {
		line := sc.Text()
		if inStack {
			if strings.HasPrefix(line, "\t") {
				if f, _, ok := strings.Cut(strings.TrimSpace(line), " @ "); ok {
					frames = append(frames, f)
				}
				continue
			}
			flush()
		}
		if line == "TransitionStack=" && pending != nil {
			inStack = true
			continue
		}
		m := transition.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		flush()
		t, _ := strconv.ParseInt(m[1], 10, 64)
		if t0 == 0 {
			t0 = t
		}
		switch {
		case m[3] == "Running" && m[4] == "Waiting":
			pending = []string{m[2]}
			blocked[m[2]] = "(no stack)"
		case m[4] == "Waiting":
			// Each trace generation restates every goroutine's state
			// without a stack: the site it blocked at stays as it was.
			if _, ok := blocked[m[2]]; !ok {
				blocked[m[2]] = "(blocked before the trace began)"
			}
		case m[3] == "Waiting" && m[4] == "Runnable" && time.Duration(t-t0) >= skip:
			if first == 0 {
				first = t
			}
			last = t
			counts[blocked[m[2]]]++
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return err
	}
	secs := time.Duration(last - first).Seconds()
	if secs <= 0 {
		return fmt.Errorf("no wake-ups after the first %v", skip)
	}
	sites := make([]string, 0, len(counts))
	total := 0
	for s, n := range counts {
		sites = append(sites, s)
		total += n
	}
	sort.Slice(sites, func(i, j int) bool { return counts[sites[i]] > counts[sites[j]] })
	fmt.Fprintf(out, "%.1f s, %.1f wake-ups a second\n", secs, float64(total)/secs)
	for i, s := range sites {
		if i == top {
			break
		}
		fmt.Fprintf(out, "%7.1f/s  %s\n", float64(counts[s])/secs, s)
	}
	return nil
}

// site names a blocking point by its first frames outside the runtime and
// the sync package (the runtime's own when there are no others).
func site(frames []string) string {
	var own []string
	for _, f := range frames {
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") && !strings.HasPrefix(f, "sync.") {
			own = append(own, f)
		}
	}
	if len(own) == 0 {
		own = frames
	}
	if len(own) > 3 {
		own = own[:3]
	}
	if len(own) == 0 {
		return "(no stack)"
	}
	return strings.Join(own, " < ")
}
