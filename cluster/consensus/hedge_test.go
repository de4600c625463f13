package consensus

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/raft"
)

// stuckTransport answers AppendEntries as its script says, call by call:
// a call may wait (a connection whose segments a network outage swallowed)
// until release, or fail at once.
type stuckTransport struct {
	raft.Transport
	mu      sync.Mutex
	calls   []time.Time
	release chan struct{} // calls scripted to wait return when it closes
	script  func(n int) (wait bool, err error)
}

func (s *stuckTransport) AppendEntries(_ raft.ServerID, _ raft.ServerAddress,
	args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, time.Now())
	s.mu.Unlock()
	wait, err := s.script(n)
	if wait {
		<-s.release
	}
	if err != nil {
		return err
	}
	resp.Term, resp.Success = args.Term, true
	return nil
}

func (s *stuckTransport) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

var hbReq = &raft.AppendEntriesRequest{Term: 7, RPCHeader: raft.RPCHeader{ID: []byte("n1")}}

// After a short outage, the heartbeat stuck on its connection (delivered
// only at TCP's next retransmission) no longer keeps the leader from its
// followers' answers: a copy on a new connection is answered once the
// network is back, raft gets that answer, and the answer counts from the
// copy's send time, which a late answer to the stuck one does not set back.
func TestUnansweredHeartbeatIsSentAgainOnANewConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outageEnds := time.Now().Add(260 * time.Millisecond)
		inner := &stuckTransport{release: make(chan struct{})}
		inner.script = func(n int) (bool, error) {
			if n == 0 {
				return true, nil // the stuck one
			}
			if time.Now().Before(outageEnds) {
				return true, nil // its handshake lost too
			}
			return false, nil
		}
		ans := &answers{}
		trans, _, _ := withAnswers(inner, ans, func(string) {}, nil, hedgeEvery(500*time.Millisecond))
		start := time.Now()
		var resp raft.AppendEntriesResponse
		if err := trans.AppendEntries("n2", "n2:1", hbReq, &resp); err != nil {
			t.Fatalf("heartbeat failed: %v", err)
		}
		took := time.Since(start)
		if !resp.Success || resp.Term != 7 {
			t.Errorf("raft got %+v, want the copy's answer", resp)
		}
		// Copies every 50 ms: the first one sent after the outage (260 ms) is at 300 ms.
		if took != 300*time.Millisecond {
			t.Errorf("answered after %v, want 300ms (the first copy after the outage)", took)
		}
		if got := ans.at("n2"); !got.Equal(start.Add(300 * time.Millisecond)) {
			t.Errorf("answer noted at %v after the start, want the copy's send time 300ms", got.Sub(start))
		}
		close(inner.release) // the stuck one and the lost copies answer late
		synctest.Wait()
		if got := ans.at("n2"); !got.Equal(start.Add(300 * time.Millisecond)) {
			t.Errorf("late answers set the noted answer back to %v after the start", got.Sub(start))
		}
		if n := len(inner.callTimes()); n != 7 {
			t.Errorf("%d calls, want the heartbeat and its 6 copies", n)
		}
	})
}

// A heartbeat answered at once is sent once; an append is never copied; the
// first call's error ends the wait (raft backs off as before), and copies
// stop at maxHedges.
func TestHeartbeatCopiesOnlyWhileUnanswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := &stuckTransport{release: make(chan struct{}), script: func(int) (bool, error) { return false, nil }}
		trans, _, _ := withAnswers(inner, &answers{}, func(string) {}, nil, 20*time.Millisecond)
		var resp raft.AppendEntriesResponse
		if err := trans.AppendEntries("n2", "n2:1", hbReq, &resp); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if n := len(inner.callTimes()); n != 1 {
			t.Errorf("an answered heartbeat was sent %d times", n)
		}

		inner.calls = nil
		inner.script = func(int) (bool, error) { return true, nil }
		done := make(chan error, 1)
		go func() {
			done <- trans.AppendEntries("n2", "n2:1", &raft.AppendEntriesRequest{Term: 7, LeaderCommitIndex: 3}, &resp)
		}()
		time.Sleep(time.Second)
		if n := len(inner.callTimes()); n != 1 {
			t.Errorf("an append was sent %d times", n)
		}
		close(inner.release)
		<-done

		refused := errors.New("connection refused")
		inner.calls, inner.release = nil, make(chan struct{})
		inner.script = func(n int) (bool, error) {
			if n == 0 {
				return false, refused
			}
			return false, nil
		}
		if err := trans.AppendEntries("n2", "n2:1", hbReq, &resp); !errors.Is(err, refused) {
			t.Errorf("first call's error: got %v", err)
		}

		// A peer that is gone: the first call times out, the copies stop at maxHedges.
		inner.calls = nil
		timeout := errors.New("i/o timeout")
		inner.script = func(n int) (bool, error) {
			if n == 0 {
				time.Sleep(2 * time.Second)
				return false, timeout
			}
			return true, nil
		}
		if err := trans.AppendEntries("n2", "n2:1", hbReq, &resp); !errors.Is(err, timeout) {
			t.Errorf("got %v, want the first call's timeout", err)
		}
		if n := len(inner.callTimes()); n != 1+maxHedges {
			t.Errorf("%d calls, want 1 + %d copies", n, maxHedges)
		}
		close(inner.release)
	})
}
