package lab

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
)

// TestHealth runs the health-check scenario (see health_fixture.go): real
// vigil agents, haproxy on each LB in front of its own backend, an http check
// of the local haproxy on every LB, and a client probing the VIP every 10 ms.
// Check interval 300ms, rise 2, fall 3, min_move_interval 5s, failback
// false. The subtests share the cluster and run in order.
func TestHealth(t *testing.T) {
	const minMove = 5 * time.Second
	h := StartHealthLab(t, "vlabh", HealthSpec{MinMoveInterval: minMove})
	probe := h.Client.StartProbe("probe", h.URL())
	const settle = 30 * time.Second

	t.Run("BrokenBackendMovesGroupToHealthyStandby", func(t *testing.T) {
		// min_move_interval counts from the group's last move of any kind,
		// its initial placement included: wait that out, so that what
		// follows is detection plus failover only.
		ev, err := h.History(200)
		if err != nil {
			t.Fatal(err)
		}
		if p := HealthPlacements(ev, time.Time{}); len(p) > 0 {
			time.Sleep(time.Until(p[len(p)-1].Time.Add(minMove)))
		}
		broke := time.Now()
		h.BreakBackend("n1")
		st := h.WaitGroupOn("n2", settle)
		moved := time.Now()
		first := healthWaitAnswer(t, h, probe, "n2", broke)

		// Item 4: each LB's check with state, count and last output.
		n1, ok1 := h.Check(st, "n1")
		n2, ok2 := h.Check(st, "n2")
		if !ok1 || !ok2 {
			t.Fatalf("status checks lack a node: %+v", st.Checks)
		}
		if w, ok := h.Check(st, "w"); ok {
			t.Errorf("the witness runs the group's check: %+v", w)
		}
		if n1.State != "unhealthy" || n1.Consecutive < h.Health.Fall || !strings.Contains(n1.Output, "503") || n1.At.Before(broke) {
			t.Errorf("n1's check = %+v; want unhealthy, >= %d failures in a row, output HTTP 503, result after the break", n1, h.Health.Fall)
		}
		if n2.State != "healthy" || n2.Consecutive < h.Health.Rise || !healthPassed(n2.Output) {
			t.Errorf("n2's check = %+v; want healthy, >= %d successes in a row, HTTP 200", n2, h.Health.Rise)
		}
		out, err := h.CLI("n2", "status")
		if err != nil {
			t.Fatal(err)
		}
		row := regexp.MustCompile(`(?m)^\s+n1\s+web\s+site\s+unhealthy\s+\d+\s+HTTP 503`)
		if !strings.Contains(out, "Health checks:") || !row.MatchString(out) {
			t.Errorf("`vigil status` does not show n1's failing check:\n%s", out)
		}

		// The client saw haproxy's errors on n1, then n2's answers.
		samples := healthSamples(t, probe)
		if !healthSawError(samples, broke, "503") {
			t.Errorf("the client never saw a 503 from n1 after its backend broke")
		}

		// Item 4: history names the failing check of the health-driven move.
		ev, err = h.History(200)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := healthFindEvent(ev, broke, "n1", "failing health checks", "("+healthCheck+")"); !ok {
			t.Errorf("history has no event naming n1's failing check %q:\n%s", healthCheck, healthEvents(ev, broke))
		} else {
			t.Logf("history: %s", e.Message)
		}
		if p := HealthPlacements(ev, broke); len(p) != 1 || p[0].Node != "n2" || !strings.Contains(p[0].Message, "(health)") {
			t.Errorf("placements after the break:\n%swant one health-driven move to n2", healthEvents(p, time.Time{}))
		}
		t.Logf("backend of n1 broken -> group started on n2 (status) %v, -> client answered by n2 %v",
			moved.Sub(broke).Round(time.Millisecond), first.Sub(broke).Round(time.Millisecond))
	})

	t.Run("RepairedNodeEligibleAfterRiseGroupStays", func(t *testing.T) {
		fixed := time.Now()
		h.FixBackend("n1")
		// n1's own view, polled far faster than the interval: a first
		// success does not make it healthy, rise successes do.
		sawRising := false
		h.Eventually(settle, "n1's check healthy", func() error {
			st, err := h.LocalStatus(t.Context(), "n1")
			if err != nil {
				return err
			}
			c, ok := h.Check(st, "n1")
			switch {
			case !ok || c.At.Before(fixed):
				return fmt.Errorf("no result since the repair")
			case c.State == "unhealthy" && healthPassed(c.Output):
				sawRising = true
				if c.Consecutive >= h.Health.Rise {
					t.Errorf("n1's check = %+v: still unhealthy after %d successes (rise %d)", c, c.Consecutive, h.Health.Rise)
				}
			case c.State == "healthy" && c.Consecutive < h.Health.Rise:
				t.Errorf("n1's check = %+v: healthy after %d successes, rise is %d", c, c.Consecutive, h.Health.Rise)
			}
			if c.State != "healthy" {
				return fmt.Errorf("n1's check is %s (%d in a row: %s)", c.State, c.Consecutive, c.Output)
			}
			return nil
		})
		if !sawRising {
			t.Errorf("never saw n1's check still unhealthy after its first success (rise %d)", h.Health.Rise)
		}
		// failback = false: the group stays on n2 while n1 is healthy
		// again; watch it for well over rise x interval.
		until := time.Now().Add(3 * time.Second)
		for time.Now().Before(until) {
			st, err := h.LeaderStatus()
			if err != nil {
				t.Fatal(err)
			}
			if g := h.Group(st); g.Node != "n2" || g.State != "started" || strings.Contains(g.Reason, "n1") {
				t.Fatalf("after n1's repair the group is %s on %q (%s); want it to stay started on n2", g.State, g.Node, g.Reason)
			}
			time.Sleep(200 * time.Millisecond)
		}
		ev, err := h.History(200)
		if err != nil {
			t.Fatal(err)
		}
		if p := HealthPlacements(ev, fixed); len(p) != 0 {
			t.Errorf("the group moved after n1's repair (failback = false): %s", healthEvents(p, time.Time{}))
		}
	})

	t.Run("RepairedNodeTakesOverWhenStandbyBreaks", func(t *testing.T) {
		// n1 is eligible again: breaking n2 sends the group back.
		broke := time.Now()
		h.BreakBackend("n2")
		h.WaitGroupOn("n1", settle)
		healthWaitAnswer(t, h, probe, "n1", broke)
		h.FixBackend("n2")
		h.WaitCheck("n2", "healthy", settle)
	})

	t.Run("BothBrokenNothingMoves", func(t *testing.T) {
		// The standby first, so the active node is never the only one
		// failing: then nowhere is better to go.
		h.BreakBackend("n2")
		h.WaitCheck("n2", "unhealthy", settle)
		broke := time.Now()
		h.BreakBackend("n1")
		h.WaitCheck("n1", "unhealthy", settle)
		h.Eventually(settle, "the group's reason says no node is healthy", func() error {
			st, err := h.LeaderStatus()
			if err != nil {
				return err
			}
			if g := h.Group(st); !strings.Contains(g.Reason, "no healthy node") {
				return fmt.Errorf("group %s on %q, reason %q", g.State, g.Node, g.Reason)
			}
			return nil
		})
		// Longer than min_move_interval, so the rate limit is not what
		// keeps it in place.
		until := time.Now().Add(minMove + time.Second)
		for time.Now().Before(until) {
			st, err := h.LeaderStatus()
			if err != nil {
				t.Fatal(err)
			}
			if g := h.Group(st); g.Node != "n1" || g.State != "started" {
				t.Fatalf("both LBs failing: group %s on %q (%s); want it to stay started on n1", g.State, g.Node, g.Reason)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !h.Node("n1").Host.HasAddr(HealthVIP) || h.Node("n2").Host.HasAddr(HealthVIP) {
			t.Errorf("both LBs failing: the VIP left n1")
		}
		ev, err := h.History(200)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ev {
			if e.Group == healthGroup && e.Kind == "assign" && e.Time.After(broke) {
				t.Errorf("both LBs failing, yet: %s", e.Message)
			}
		}
		// The active LB first: were n2 healthy first, the group would
		// rightly move there.
		h.FixBackend("n1")
		h.WaitCheck("n1", "healthy", settle)
		h.FixBackend("n2")
		h.WaitCheck("n2", "healthy", settle)
		h.WaitGroupOn("n1", settle)
	})

	t.Run("FlappingMovesAtMostOncePerMinMoveInterval", func(t *testing.T) {
		// Each LB's backend is down 2s, up 2s, the two out of phase: the
		// active LB fails (fall x interval < 1s) while the other has
		// recovered (rise x interval < 1s) every 2s, so without the limit
		// the group would move every 2s.
		const half, window = 2 * time.Second, 24 * time.Second
		start := time.Now()
		rateLimited := false
		for phase := 0; time.Since(start) < window; phase++ {
			bad, good := "n1", "n2"
			if phase%2 == 1 {
				bad, good = good, bad
			}
			h.BreakBackend(bad)
			h.FixBackend(good)
			next := start.Add(time.Duration(phase+1) * half)
			for time.Until(next) > 0 {
				if st, err := h.LeaderStatus(); err == nil && strings.Contains(h.Group(st).Reason, "min_move_interval") {
					rateLimited = true
				}
				time.Sleep(min(250*time.Millisecond, max(time.Until(next), 0)))
			}
		}
		end := time.Now()
		h.FixBackend("n1")
		h.FixBackend("n2")

		ev, err := h.History(500)
		if err != nil {
			t.Fatal(err)
		}
		moves := HealthPlacements(ev, start)
		t.Logf("%d moves in %v of flapping (phase changes every %v):\n%s", len(moves), end.Sub(start).Round(time.Second), half, healthEvents(moves, time.Time{}))
		if len(moves) < 2 {
			t.Errorf("only %d moves while the active LB kept failing; want at least 2", len(moves))
		}
		if limit := int(end.Sub(start)/minMove) + 1; len(moves) > limit {
			t.Errorf("%d moves in %v with min_move_interval %v; want at most %d", len(moves), end.Sub(start), minMove, limit)
		}
		for i := 1; i < len(moves); i++ {
			if gap := moves[i].Time.Sub(moves[i-1].Time); gap < minMove {
				t.Errorf("moves %d and %d only %v apart (min_move_interval %v)", i-1, i, gap, minMove)
			}
		}
		if !rateLimited {
			t.Errorf("the group's reason never mentioned min_move_interval while flapping")
		}
		h.WaitCheck("n1", "healthy", settle)
		h.WaitCheck("n2", "healthy", settle)
	})
}

// healthWaitAnswer waits until the client got an answer from lb after since, and
// returns when.
func healthWaitAnswer(t *testing.T, h *HealthLab, probe *Proc, lb string, since time.Time) time.Time {
	t.Helper()
	var at time.Time
	h.Eventually(10*time.Second, "the client answered by "+lb, func() error {
		samples, err := ReadProbe(probe.Log)
		if err != nil {
			return err
		}
		for _, s := range samples {
			if s.OK && s.Body == lb && s.Time.After(since) {
				at = s.Time
				return nil
			}
		}
		return fmt.Errorf("no answer from %s yet", lb)
	})
	return at
}

func healthSamples(t *testing.T, probe *Proc) []Sample {
	t.Helper()
	s, err := ReadProbe(probe.Log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// healthSawError reports whether a failed sample after since mentions text.
func healthSawError(samples []Sample, since time.Time, text string) bool {
	for _, s := range samples {
		if !s.OK && s.Time.After(since) && strings.Contains(s.Body, text) {
			return true
		}
	}
	return false
}

// healthFindEvent is the first event after since whose message has every word.
func healthFindEvent(ev []api.Event, since time.Time, words ...string) (api.Event, bool) {
	for _, e := range ev {
		if !e.Time.After(since) {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(e.Message, w)
		}
		if all {
			return e, true
		}
	}
	return api.Event{}, false
}

// healthEvents renders events after since, one per line.
func healthEvents(ev []api.Event, since time.Time) string {
	var b strings.Builder
	for _, e := range ev {
		if e.Time.After(since) {
			fmt.Fprintf(&b, "  %s %-10s %s\n", e.Time.Format("15:04:05.000"), e.Kind, e.Message)
		}
	}
	return b.String()
}
