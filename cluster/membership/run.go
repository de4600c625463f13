package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

const (
	rejoinInterval = time.Second // like Serf's reconnect, but fast: configured peers come back
	forgetAfter    = time.Hour   // unconfigured dead/left nodes are dropped after this
)

// Run starts memberlist, joins the configured peers (and keeps re-joining any
// that are not alive), and tracks members until ctx is done; then it leaves
// the cluster (short timeout) and shuts memberlist down. It returns nil on
// a clean stop.
func (m *Membership) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("membership: Run called twice")
	}
	if len(m.cfg.Key) == 0 {
		m.log.Warn("heartbeat gossip is not encrypted (no key): acceptable in dev mode only")
	}
	if m.cfg.Transport == nil {
		f, err := listenFiltered(m.self, m.peers, m.log)
		if err != nil {
			return fmt.Errorf("membership: listen on heartbeat link %s: %w", m.self, err)
		}
		f.start()
		m.filter.Store(f)
		m.mlConf.Transport = f
	}
	list, err := memberlist.Create(m.mlConf)
	if err != nil {
		if f := m.filter.Load(); f != nil {
			_ = f.Shutdown()
		}
		return fmt.Errorf("membership: start memberlist on %s: %w", m.self, err)
	}
	m.life.Lock()
	m.list = list
	m.life.Unlock()

	m.applyEvents()
	m.join(list)
	m.applyEvents()
	close(m.ready)

	loopCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); m.rejoinLoop(loopCtx, list) }()
	go func() { defer wg.Done(); m.pingLoop(loopCtx, list) }()
	for {
		select {
		case <-m.events.ch():
			m.applyEvents()
		case <-ctx.Done():
			cancel()
			wg.Wait()
			m.stop(list)
			return nil
		}
	}
}

// PeerErrors returns the last decryption or label error per source IP of
// the heartbeat link, seen within the last two minutes.
func (m *Membership) PeerErrors() map[string]PeerError {
	out := m.sink.errors()
	for k, v := range out {
		if time.Since(v.At) > 2*time.Minute {
			delete(out, k)
		}
	}
	return out
}

// Dropped counts heartbeat packets and streams dropped because their source
// is not a configured peer.
func (m *Membership) Dropped() uint64 {
	if f := m.filter.Load(); f != nil {
		return f.Dropped()
	}
	return 0
}

func (m *Membership) stop(list *memberlist.Memberlist) {
	m.life.Lock() // waits out an UpdateMeta in flight
	m.list = nil
	m.life.Unlock()
	if !m.noLeave {
		timeout := min(max(4*m.mlConf.ProbeInterval, 500*time.Millisecond), 3*time.Second)
		// Announce the leave in our meta first: memberlist v0.6.0 reports
		// dead and left nodes identically to the event delegate.
		m.leaving.Store(true)
		if err := list.UpdateNode(timeout / 2); err != nil {
			m.log.Debug("leave announcement not confirmed", "error", err)
		}
		if err := list.Leave(timeout); err != nil {
			m.log.Warn("leave not confirmed by peers", "error", err)
		}
	}
	if err := list.Shutdown(); err != nil {
		m.log.Warn("memberlist shutdown", "error", err)
	}
	m.applyEvents()
	m.mu.Lock()
	if r := m.members[m.cfg.Name]; r != nil {
		r.mlAlive, r.leaving = false, !m.noLeave
		m.setState(r, time.Now())
	}
	m.mu.Unlock()
	m.signal()
}

// applyEvents folds queued memberlist events into our member records.
func (m *Membership) applyEvents() {
	evs := m.events.drain()
	if len(evs) == 0 {
		return
	}
	changed := false
	m.mu.Lock()
	for _, ev := range evs {
		r := m.members[ev.name]
		if r == nil {
			r = &record{Member: Member{Name: ev.name}}
			m.members[ev.name] = r
			changed = true
		}
		if r.Addr != ev.addr {
			r.Addr = ev.addr
			r.configured = ev.name == m.cfg.Name || slices.Contains(m.peers, ev.addr)
			changed = true
		}
		if !bytes.Equal(r.raw, ev.meta) {
			meta, leaving, err := decodeMeta(ev.meta)
			if err != nil {
				m.log.Warn("undecodable node meta", "node", ev.name, "error", err)
			}
			r.raw, r.Meta, r.leaving = ev.meta, meta, leaving
			changed = true
		}
		switch ev.kind {
		case evJoin:
			r.mlAlive, r.pingFails = true, 0
		case evUpdate:
			r.mlAlive = true
		case evLeave:
			if r.mlAlive {
				select {
				case m.lost <- struct{}{}:
				default:
				}
			}
			r.mlAlive = false
			r.leaving = r.leaving || ev.left
		}
		if m.setState(r, ev.at) {
			changed = true
		}
	}
	m.mu.Unlock()
	if changed {
		m.signal()
	}
}

// setState derives r.State and stamps Since on a change. Callers hold m.mu.
func (m *Membership) setState(r *record, now time.Time) bool {
	s := StateAlive
	switch {
	case !r.mlAlive && r.leaving:
		s = StateLeft
	case !r.mlAlive:
		s = StateDead
	case r.pingFails >= suspectAfter:
		s = StateSuspect
	}
	if s == r.State {
		return false
	}
	if r.State != "" {
		m.log.Info("member state changed", "node", r.Name, "addr", r.Addr, "from", r.State, "to", s)
	}
	r.State, r.Since = s, now
	return true
}

// join asks memberlist to join every configured peer that is not alive
// here, and says whether there was one.
func (m *Membership) join(list *memberlist.Memberlist) bool {
	missing := m.missing()
	if len(missing) == 0 {
		return false
	}
	n, err := list.Join(missing)
	m.log.Debug("join attempt", "targets", missing, "joined", n, "error", err)
	return true
}

// missing lists the configured peers that are not alive here.
func (m *Membership) missing() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, p := range m.peers {
		up := false
		for _, r := range m.members {
			if r.Addr == p && r.mlAlive {
				up = true
				break
			}
		}
		if !up {
			out = append(out, p)
		}
	}
	return out
}

// rejoinLoop re-joins missing peers every rejoinInterval while there are
// any; with every peer alive it sleeps until one is not (an idle agent's
// wake-ups are its idle cost).
func (m *Membership) rejoinLoop(ctx context.Context, list *memberlist.Memberlist) {
	t := time.NewTimer(rejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.join(list) {
			t.Reset(rejoinInterval)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-m.lost:
			t.Reset(rejoinInterval) // memberlist may bring it back itself first
		}
	}
}

// pingLoop pings every alive member directly once per probe interval. It is
// our own suspect signal: memberlist v0.6.0 keeps its suspect state private
// (Node.State is never filled in). A member that memberlist's own probe got
// a direct answer from since the last round is not pinged again: that
// answer counts as this round's (it halves the heartbeat link's packets in
// a three-node cluster, whose prober visits each peer every other round).
func (m *Membership) pingLoop(ctx context.Context, list *memberlist.Memberlist) {
	t := time.NewTicker(m.mlConf.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.pingRound(list)
		}
	}
}

type pingTarget struct {
	name, addr string
	ok         bool // answered: our ping, or memberlist's probe since the last round
}

func (m *Membership) pingRound(list *memberlist.Memberlist) {
	now := time.Now()
	m.mu.Lock()
	prev := m.lastRound
	m.lastRound = now
	var targets []*pingTarget
	for name, r := range m.members {
		if name != m.cfg.Name && r.mlAlive {
			ok := !prev.IsZero() && r.directAck.After(prev)
			targets = append(targets, &pingTarget{name: name, addr: r.Addr, ok: ok})
		}
		if !r.mlAlive && !r.configured && now.Sub(r.Since) > forgetAfter {
			delete(m.members, name)
		}
	}
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, t := range targets {
		if t.ok {
			continue // memberlist's probe got its answer this round
		}
		ua, err := net.ResolveUDPAddr("udp", t.addr)
		if err != nil {
			continue
		}
		wg.Add(1)
		m.pings.Add(1)
		go func() {
			defer wg.Done()
			_, err := list.Ping(t.name, ua)
			t.ok = err == nil
		}()
	}
	wg.Wait()

	changed := false
	m.mu.Lock()
	for _, t := range targets {
		r := m.members[t.name]
		if r == nil || r.Addr != t.addr || !r.mlAlive {
			continue // changed while we pinged; the next round decides
		}
		if t.ok {
			r.pingFails = 0
		} else {
			r.pingFails++
		}
		if m.setState(r, time.Now()) {
			changed = true
		}
	}
	m.mu.Unlock()
	if changed {
		m.signal()
	}
}

// noteDirectAck records that memberlist's own probe of node was answered
// directly at.
func (m *Membership) noteDirectAck(node string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.members[node]; r != nil {
		r.directAck = at
	}
}
