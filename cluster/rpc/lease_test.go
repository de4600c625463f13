package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestLeaseRenewal: the leader notes who renewed and when; a node that is
// not the leader refuses, so a follower never counts a deposed leader's
// answer as a renewal; an unidentified caller is refused.
func TestLeaseRenewal(t *testing.T) {
	renew := func(s *Server, peer string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, LeasePath, strings.NewReader("{}"))
		if peer != "" {
			req = req.WithContext(WithPeer(context.Background(), peer))
		}
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	got := map[string]time.Time{}
	leaseHeld := true
	noted := func(peer string, at time.Time) bool {
		if leaseHeld {
			got[peer] = at
		}
		return leaseHeld
	}

	leader := NewServer(ServerDeps{Raft: &leaderRaft{}, Renewed: noted})
	before := time.Now()
	if code := renew(leader, "lb2"); code != http.StatusOK {
		t.Fatalf("renewal on the leader: %d", code)
	}
	if at, ok := got["lb2"]; !ok || at.Before(before) {
		t.Fatalf("renewal from lb2 not noted: %v", got)
	}
	if code := renew(leader, ""); code != http.StatusForbidden || len(got) != 1 {
		t.Errorf("unidentified renewal: %d, noted %v", code, got)
	}
	// A leader out of its own lease (deposed, not stepped down yet) refuses.
	leaseHeld = false
	if code := renew(leader, "lb2"); code != http.StatusServiceUnavailable {
		t.Errorf("renewal on a leader without its lease: %d", code)
	}
	leaseHeld = true
	follower := NewServer(ServerDeps{Raft: &followerRaft{}, Renewed: noted})
	if code := renew(follower, "lb1"); code != http.StatusServiceUnavailable || len(got) != 1 {
		t.Errorf("renewal on a follower: %d, noted %v", code, got)
	}
}
