package main

import (
	"strings"
	"testing"
)

func feed(s *summary, lines ...event) {
	for _, e := range lines {
		s.add(e)
	}
}

func TestCountsAndSkipReasons(t *testing.T) {
	s := newSummary()
	feed(s,
		event{Action: "run", Package: "p/a", Test: "TestOK"},
		event{Action: "pass", Package: "p/a", Test: "TestOK"},
		event{Action: "output", Package: "p/a", Test: "TestLab", Output: "    lab.go:92: lab: network-namespace tests need root\n"},
		event{Action: "output", Package: "p/a", Test: "TestLab", Output: "--- SKIP: TestLab (0.00s)\n"},
		event{Action: "skip", Package: "p/a", Test: "TestLab"},
		event{Action: "pass", Package: "p/a"},
		event{Action: "fail", Package: "p/b", Test: "TestBad"},
		event{Action: "fail", Package: "p/b"},
	)
	var b strings.Builder
	if !s.report(&b, false) {
		t.Error("a failed test did not fail the run")
	}
	out := b.String()
	for _, want := range []string{
		"p/a", "p/b", "FAIL",
		"skipped: p/a TestLab: lab.go:92: lab: network-namespace tests need root",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if c := s.pkgs["p/a"]; *c != (counts{pass: 1, skip: 1}) {
		t.Errorf("p/a counts %+v", *c)
	}
}

func TestSkipFailsOnlyUnderCI(t *testing.T) {
	s := newSummary()
	feed(s, event{Action: "skip", Package: "p/lab", Test: "TestX"}, event{Action: "pass", Package: "p/lab"})
	var b strings.Builder
	if s.report(&b, false) {
		t.Errorf("a skip failed a local run:\n%s", b.String())
	}
	b.Reset()
	if !s.report(&b, true) || !strings.Contains(b.String(), "skipped under CI") {
		t.Errorf("a skip under CI did not fail the run:\n%s", b.String())
	}
}
