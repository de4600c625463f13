package ipaddr

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mdlayher/arp"
)

// Announcer sends the announcement bursts of every address of one process
// from a single goroutine, over one ARP socket per interface. A goroutine
// and a socket per address (the way it was) cost a thread each once
// hundreds of addresses start at once: closing a packet socket blocks its
// thread for an RCU grace period. The goroutine runs only while some burst
// has rounds left; the sockets are closed once nothing uses them.
//
// The zero value is not usable; use NewAnnouncer. Factory shares one among
// the agents it builds.
type Announcer struct {
	mu      sync.Mutex // held while a round is sent: cancel waits for it
	jobs    map[*Agent]*job
	socks   map[sockKey]*sharedARP
	running bool
	wake    chan struct{}
}

type sockKey struct{ ns, ifName string }

// sharedARP is one interface's ARP socket and how many users it has.
type sharedARP struct {
	c    *arp.Client
	refs int
}

// job is one address's burst: rounds left, every, next round's time.
type job struct {
	an    *announcer
	left  int
	every time.Duration
	next  time.Time
}

// NewAnnouncer returns an idle announcer.
func NewAnnouncer() *Announcer {
	return &Announcer{jobs: map[*Agent]*job{}, socks: map[sockKey]*sharedARP{}, wake: make(chan struct{}, 1)}
}

// arpFor returns the interface's shared ARP socket, opening it (in a's
// namespace) if nobody uses one; release gives it back.
func (p *Announcer) arpFor(a *Agent, ifi *net.Interface) (*arp.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := sockKey{a.nsPath, ifi.Name}
	if s := p.socks[k]; s != nil {
		s.refs++
		return s.c, nil
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, fmt.Errorf("ARP socket on %s: %w", ifi.Name, err)
	}
	p.socks[k] = &sharedARP{c: c, refs: 1}
	return c, nil
}

// releaseLocked drops one use of an's sockets, closing what nobody uses.
// The close is slow for packet sockets (~10 ms) and nobody waits for it;
// one goroutine per socket, and there is one socket per interface.
func (p *Announcer) releaseLocked(an *announcer) {
	if an.arp == nil {
		if an.ndp != nil {
			go an.Close()
		}
		return
	}
	s := p.socks[an.key]
	if s == nil || s.c != an.arp {
		return
	}
	if s.refs--; s.refs <= 0 {
		delete(p.socks, an.key)
		go func() { _ = s.c.Close() }()
	}
}

// release gives back an announcer that has no burst (its first and only
// round was sent, or it failed).
func (p *Announcer) release(an *announcer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(an)
}

// burst has the announcer send rounds more rounds for a, every apart,
// replacing a's burst in progress if any. It owns an from here.
func (p *Announcer) burst(a *Agent, an *announcer, rounds int, every time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.jobs[a]; old != nil {
		delete(p.jobs, a)
		p.releaseLocked(old.an)
	}
	if rounds <= 0 {
		p.releaseLocked(an)
		return
	}
	p.jobs[a] = &job{an: an, left: rounds, every: every, next: time.Now().Add(every)}
	if !p.running {
		p.running = true
		go p.loop()
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// cancel ends a's burst; once it returns, nothing more is sent for a.
func (p *Announcer) cancel(a *Agent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if j := p.jobs[a]; j != nil {
		delete(p.jobs, a)
		p.releaseLocked(j.an)
	}
}

// busy reports whether a's burst still has rounds to send.
func (p *Announcer) busy(a *Agent) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jobs[a] != nil
}

// loop sends the rounds that are due until no burst is left.
func (p *Announcer) loop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		p.mu.Lock()
		now := time.Now()
		var next time.Time
		for a, j := range p.jobs {
			if !now.Before(j.next) {
				if err := j.an.round(); err != nil {
					a.log.Warn("announcement round failed", "error", err)
				}
				j.left--
				j.next = now.Add(j.every)
			}
			if j.left <= 0 {
				delete(p.jobs, a)
				p.releaseLocked(j.an)
				continue
			}
			if next.IsZero() || j.next.Before(next) {
				next = j.next
			}
		}
		if len(p.jobs) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		t.Reset(time.Until(next))
		select {
		case <-t.C:
		case <-p.wake:
		}
	}
}
