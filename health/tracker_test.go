package health_test

import (
	"testing"

	"github.com/vigil-ha/vigil/health"
)

// seq turns "++-+" into results (+ OK, - failed).
func seq(s string) []health.Result {
	out := make([]health.Result, len(s))
	for i, c := range s {
		out[i] = health.Result{OK: c == '+', Output: string(c)}
	}
	return out
}

const (
	U = health.StateUnknown
	H = health.StateHealthy
	D = health.StateUnhealthy
)

func TestTrackerRiseFall(t *testing.T) {
	cases := []struct {
		name       string
		rise, fall int
		results    string
		states     []string // state after each result
		changedAt  []int    // indexes where Observe reported a change
	}{
		{"starts unknown, rises after 2", 2, 3, "++", []string{U, H}, []int{1}},
		{"starts unknown, falls after 3", 2, 3, "---", []string{U, U, D}, []int{2}},
		{"healthy needs fall failures in a row", 2, 3, "++--+---", []string{U, H, H, H, H, H, H, D}, []int{1, 7}},
		{"unhealthy needs rise successes in a row", 2, 3, "---+-++", []string{U, U, D, D, D, D, H}, []int{2, 6}},
		{"flapping from healthy never reaches fall=3", 2, 3, "++-+-+-+-+-+-+", []string{U, H, H, H, H, H, H, H, H, H, H, H, H, H}, []int{1}},
		{"flapping from unknown stays unknown", 2, 3, "+-+-+-+-", []string{U, U, U, U, U, U, U, U}, nil},
		{"flapping with rise=1 follows successes only", 1, 3, "+-+--", []string{H, H, H, H, H}, []int{0}},
		{"rise=1 fall=1 follows every result", 1, 1, "+-+", []string{H, D, H}, []int{0, 1, 2}},
		{"zero thresholds mean defaults 2/3", 0, 0, "+-++---", []string{U, U, U, H, H, H, D}, []int{3, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := health.NewTracker(tc.rise, tc.fall)
			if tr.State() != U || tr.Healthy() {
				t.Fatalf("new tracker: state %q healthy %v", tr.State(), tr.Healthy())
			}
			var changedAt []int
			for i, r := range seq(tc.results) {
				if tr.Observe(r) {
					changedAt = append(changedAt, i)
				}
				if tr.State() != tc.states[i] {
					t.Fatalf("after %q: state %q, want %q", tc.results[:i+1], tr.State(), tc.states[i])
				}
				if tr.Healthy() != (tc.states[i] == H) {
					t.Fatalf("after %q: Healthy()=%v in state %q", tc.results[:i+1], tr.Healthy(), tr.State())
				}
				if tr.Last() != r {
					t.Fatalf("Last() = %+v, want %+v", tr.Last(), r)
				}
			}
			if len(changedAt) != len(tc.changedAt) {
				t.Fatalf("changed at %v, want %v", changedAt, tc.changedAt)
			}
			for i := range changedAt {
				if changedAt[i] != tc.changedAt[i] {
					t.Fatalf("changed at %v, want %v", changedAt, tc.changedAt)
				}
			}
		})
	}
}

func TestTrackerConsecutive(t *testing.T) {
	tr := health.NewTracker(2, 3)
	want := []int{1, 2, 3, 1, 2, 1, 1, 1, 2, 3}
	for i, r := range seq("+++--+-+++") {
		tr.Observe(r)
		if tr.Consecutive() != want[i] {
			t.Fatalf("after result %d: Consecutive()=%d, want %d", i, tr.Consecutive(), want[i])
		}
	}
}
