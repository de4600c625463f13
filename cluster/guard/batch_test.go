package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/internal/syncbuf"
)

// Holds and releases of a whole group of addresses in one exchange: every
// address held is removed when the agent goes, a released one is not, and
// a hold refused (no lease) is reported for that address.
func TestHoldManyAndReleaseMany(t *testing.T) {
	sock, logf, command := guardProcess(t)
	c := NewClient(ClientConfig{Socket: sock, Command: command,
		Lease: func() (time.Time, bool) { return time.Now().Add(time.Second), true }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()

	const n = 300 // more than one batch
	var holds [][3]string
	for i := range n {
		holds = append(holds, [3]string{fmt.Sprintf("g/a%d", i), fmt.Sprintf("addr%d", i), "eth0"})
	}
	for i, err := range c.HoldMany(ctx, holds) {
		if err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
	}
	c.ReleaseMany(ctx, []string{"g/a0", "g/a299"})
	cancel()
	<-done
	b, _ := os.ReadFile(logf)
	for i := range n {
		removed := strings.Contains(string(b), fmt.Sprintf("remove addr%d\n", i))
		if want := i != 0 && i != n-1; removed != want {
			t.Errorf("addr%d removed when the agent left: %v, want %v", i, removed, want)
		}
	}
}

// Without a lease the guard refuses every hold of the batch.
func TestHoldManyWithoutLeaseFails(t *testing.T) {
	sock, _, command := guardProcess(t)
	c := NewClient(ClientConfig{Socket: sock, Command: command,
		Lease: func() (time.Time, bool) { return time.Time{}, false }})
	defer c.shutdown()
	errs := c.HoldMany(context.Background(), [][3]string{{"g/a", "a", "eth0"}, {"g/b", "b", "eth0"}})
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "no lease") {
			t.Errorf("hold %d without a lease: %v, want a refusal", i, err)
		}
	}
}

// A burst of holds and releases is logged at INFO as a few summary lines
// (each address at DEBUG), soon after it even while renewals go on, and
// every request of the burst is answered, in order, although the guard
// writes its replies together.
func TestBurstIsSummarisedAndAnswered(t *testing.T) {
	var logs syncbuf.Buffer
	s := startServerLogging(t, hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}))
	conn, rd := s.conn, s.rd
	const n = 256
	burst := func(op string) {
		t.Helper()
		var out []byte
		for i := range n {
			b, _ := json.Marshal(request{Op: op, Key: fmt.Sprintf("g/a%d", i), Address: fmt.Sprint("addr", i), Deadline: in(time.Hour)})
			out = append(append(out, b...), '\n')
		}
		if _, err := conn.Write(out); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			line, err := rd.ReadBytes('\n')
			var rep reply
			if err == nil {
				err = json.Unmarshal(line, &rep)
			}
			if err != nil || !rep.OK {
				t.Fatalf("%s %d: %v %+v", op, i, err, rep)
			}
		}
	}
	burst("hold")
	// Renewals every 5 ms do not put off the burst's line.
	for range 20 {
		s.call(request{Op: "renew", Deadline: in(time.Hour)})
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "guarding addresses: count=") {
		t.Errorf("no summary of the holds 100 ms after them, renewals meanwhile:\n%s", logs.String())
	}
	burst("release")
	conn.Close()
	<-s.done
	text := logs.String()
	for _, what := range []string{"guarding address", "released address"} {
		total := 0
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, what+": ") {
				t.Errorf("one INFO line per address: %s", line)
			}
			if i := strings.Index(line, what+"es: count="); i >= 0 {
				var c int
				fmt.Sscanf(line[i+len(what+"es: count="):], "%d", &c)
				total += c
			}
		}
		if total != n {
			t.Errorf("%ses logged for %d of %d addresses:\n%s", what, total, n, text)
		}
	}
}
