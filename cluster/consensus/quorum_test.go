package consensus

import (
	"testing"
	"time"
)

func TestQuorumTime(t *testing.T) {
	now := time.Unix(1000, 0)
	ack := map[string]time.Time{"b": now.Add(-30 * time.Millisecond), "c": now.Add(-400 * time.Millisecond),
		"d": now.Add(-10 * time.Millisecond), "e": {}}
	at := func(id string) time.Time { return ack[id] }
	cases := []struct {
		voters []string
		want   time.Time
	}{
		{[]string{"a"}, now}, // alone: always
		{[]string{"a", "b", "c"}, now.Add(-30 * time.Millisecond)}, // the fresher peer makes the majority
		{[]string{"a", "c", "e"}, now.Add(-400 * time.Millisecond)},
		{[]string{"a", "e", "x"}, time.Time{}},                               // no peer ever answered
		{[]string{"a", "b", "c", "d", "e"}, now.Add(-30 * time.Millisecond)}, // 3 of 5: a, d, b
		{[]string{"a", "b"}, now.Add(-30 * time.Millisecond)},                // 2 of 2 need both
	}
	for _, c := range cases {
		if got := quorumTime(now, "a", c.voters, at); !got.Equal(c.want) {
			t.Errorf("voters %v: %v, want %v", c.voters, got.Sub(now), c.want.Sub(now))
		}
	}
}
