package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/internal/httpserve"
)

// renewals counts what a leader's Renewed hook saw.
type renewals struct {
	mu     sync.Mutex
	byPeer map[string]int
	refuse bool // as a leader without its leader lease
}

func (r *renewals) noted(peer string, _ time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	if r.byPeer == nil {
		r.byPeer = map[string]int{}
	}
	r.byPeer[peer]++
	return true
}

func (r *renewals) count(peer string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byPeer[peer]
}

// leaseClient serves a leader with serve and returns lb2's client of it,
// and a count of the client's dials.
func leaseClient(t *testing.T, serve func(context.Context, net.Listener) error) (*Client, *atomic.Int64) {
	addr, conf := tlsServe(t, serve)
	dials := new(atomic.Int64)
	return NewClient(&followerRaft{addr: addr}, dialer(conf, dials, false)), dials
}

// TestLeaseStreamRenewsOverOneConnection: renewals go over one kept
// connection, each noted by the leader under the caller's certificate name,
// and none over the HTTP pool; a leader out of its leader lease refuses.
func TestLeaseStreamRenewsOverOneConnection(t *testing.T) {
	var got renewals
	s := NewServer(ServerDeps{Raft: &leaderRaft{}, Renewed: got.noted})
	c, dials := leaseClient(t, s.Serve)
	for range 20 {
		if err := c.RenewLease(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := got.count("lb2"); n != 20 {
		t.Errorf("leader noted %d renewals from lb2, want 20", n)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("20 renewals dialed %d times, want 1", n)
	}
	if len(c.peers) != 0 {
		t.Errorf("renewals used the HTTP pool: %v", c.peers)
	}
	got.mu.Lock()
	got.refuse = true
	got.mu.Unlock()
	if err := c.RenewLease(context.Background()); !errors.Is(err, ErrNotLeader) {
		t.Errorf("renewal refused by the leader: %v, want ErrNotLeader", err)
	}
	got.mu.Lock()
	got.refuse = false
	got.mu.Unlock()
	if err := c.RenewLease(context.Background()); err != nil || dials.Load() != 1 {
		t.Errorf("renewal after a refusal: %v, %d dials (a refusal keeps the stream)", err, dials.Load())
	}
}

// TestLeaseRenewalWithALeaderWithoutTheStream: a leader of an older version
// answers the upgrade with 404; the follower renews over HTTP with it.
func TestLeaseRenewalWithALeaderWithoutTheStream(t *testing.T) {
	var got renewals
	s := NewServer(ServerDeps{Raft: &leaderRaft{}, Renewed: got.noted})
	old := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == LeaseStreamPath {
			http.NotFound(w, r)
			return
		}
		s.Handler().ServeHTTP(w, r.WithContext(WithPeer(r.Context(), "lb2")))
	})
	c, dials := leaseClient(t, func(ctx context.Context, l net.Listener) error {
		return httpserve.Serve(ctx, l, old, httpserve.Limits{}, nil, nil)
	})
	for range 5 {
		if err := c.RenewLease(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := got.count("lb2"); n != 5 {
		t.Errorf("leader noted %d renewals over HTTP, want 5", n)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (the refused upgrade, then the HTTP pool's)", n)
	}
}

// TestLeaseStreamRenewalEndsWithItsContext: a renewal to a leader that does
// not answer (dead, or a leadership change cancelled it) returns when its
// context ends, and the next renewal opens a new stream.
func TestLeaseStreamRenewalEndsWithItsContext(t *testing.T) {
	var answer atomic.Bool
	var got renewals
	s := NewServer(ServerDeps{Raft: &leaderRaft{}, Renewed: func(p string, at time.Time) bool {
		for !answer.Load() {
			time.Sleep(time.Millisecond)
		}
		return got.noted(p, at)
	}})
	c, dials := leaseClient(t, s.Serve)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := c.RenewLease(ctx)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("renewal with a silent leader: %v after %v; want an error once cancelled", err, time.Since(start))
	}
	answer.Store(true)
	if err := c.RenewLease(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2: a stream cut short is not used again", n)
	}
}

// TestLeaseStreamClosesOnGarbage: anything but a renewal on an open stream
// closes it, noting nothing.
func TestLeaseStreamClosesOnGarbage(t *testing.T) {
	var got renewals
	s := NewServer(ServerDeps{Raft: &leaderRaft{}, Renewed: got.noted})
	c, _ := leaseClient(t, s.Serve)
	if err := c.RenewLease(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := c.lease.conn
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := c.lease.br.ReadByte(); err == nil {
		t.Fatalf("the leader answered %q to garbage; want the stream closed", b)
	}
	if n := got.count("lb2"); n != 1 {
		t.Errorf("leader noted %d renewals, want 1", n)
	}
}
