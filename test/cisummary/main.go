// Command cisummary runs `go test -json` with the given arguments, prints the
// tests' output as `go test -v` would, then a per-package table of passed,
// failed and skipped tests, and the name and reason of every skip.
//
//	go run ./test/cisummary -race ./cluster/...
//
// It exits non-zero when go test failed, and also, when CI=1 or VIGIL_CI=1 is
// set, when any test skipped: CI installs everything the tests need, so a
// skip there means a test that silently did not run.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type counts struct{ pass, fail, skip int }

type skip struct{ pkg, test, why string }

// summary accumulates events.
type summary struct {
	pkgs    map[string]*counts
	pkgFail map[string]bool   // package-level failure (build error, panic, timeout)
	last    map[string]string // last output line per package/test, the skip reason
	skips   []skip
}

func newSummary() *summary {
	return &summary{pkgs: map[string]*counts{}, pkgFail: map[string]bool{}, last: map[string]string{}}
}

func (s *summary) add(e event) {
	c := s.pkgs[e.Package]
	if c == nil {
		c = &counts{}
		s.pkgs[e.Package] = c
	}
	key := e.Package + " " + e.Test
	switch e.Action {
	case "output":
		// t.Skip's message is the last line the test printed before "--- SKIP".
		if line := strings.TrimSpace(e.Output); line != "" && !strings.HasPrefix(line, "--- ") && !strings.HasPrefix(line, "=== ") {
			s.last[key] = line
		}
	case "pass":
		if e.Test != "" {
			c.pass++
		}
	case "fail":
		if e.Test != "" {
			c.fail++
		} else {
			s.pkgFail[e.Package] = true
		}
	case "skip":
		if e.Test != "" {
			c.skip++
			s.skips = append(s.skips, skip{e.Package, e.Test, s.last[key]})
		}
	}
}

// report writes the table and returns whether the run counts as failed.
func (s *summary) report(w io.Writer, ci bool) (failed bool) {
	names := make([]string, 0, len(s.pkgs))
	for p := range s.pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	var tot counts
	fmt.Fprintf(w, "\n%-56s %6s %6s %6s\n", "package", "passed", "failed", "skipped")
	for _, p := range names {
		c := s.pkgs[p]
		mark := ""
		if s.pkgFail[p] {
			mark = "  FAIL"
			failed = true
		}
		fmt.Fprintf(w, "%-56s %6d %6d %6d%s\n", p, c.pass, c.fail, c.skip, mark)
		tot.pass, tot.fail, tot.skip = tot.pass+c.pass, tot.fail+c.fail, tot.skip+c.skip
	}
	fmt.Fprintf(w, "%-56s %6d %6d %6d\n", "total", tot.pass, tot.fail, tot.skip)
	for _, sk := range s.skips {
		fmt.Fprintf(w, "skipped: %s %s: %s\n", sk.pkg, sk.test, sk.why)
	}
	if tot.fail > 0 {
		failed = true
	}
	if ci && len(s.skips) > 0 {
		fmt.Fprintf(w, "FAIL: %d test(s) skipped under CI; CI installs everything the tests need, so each skip is a test that did not run\n", len(s.skips))
		failed = true
	}
	return failed
}

func main() {
	args := append([]string{"test", "-json"}, os.Args[1:]...)
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.Command(goBin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cisummary:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cisummary:", err)
		os.Exit(2)
	}
	s := newSummary()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // not JSON: build output
			continue
		}
		s.add(e)
		if e.Action == "output" {
			fmt.Print(e.Output)
		}
	}
	runErr := cmd.Wait()
	ci := os.Getenv("CI") == "1" || os.Getenv("VIGIL_CI") == "1"
	failed := s.report(os.Stdout, ci)
	if runErr != nil || failed {
		os.Exit(1)
	}
}
