package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Holder is one address the guard holds (resources/ipaddr.Holder).
type Holder interface {
	// Renew sets the address's kernel lifetime to d if it is configured
	// (0: permanent).
	Renew(ctx context.Context, d time.Duration) (bool, error)
	// Remove deletes the address; absent is success.
	Remove(ctx context.Context) error
	String() string
}

// Config is the guard process's configuration.
type Config struct {
	Socket   string        // unix socket the agent connects to; Socket+".lock" is the lock
	Lifetime time.Duration // kernel lifetime given to held addresses (0: do not renew)
	// NewHolder builds a Holder for an address on an interface.
	NewHolder func(address, iface string) (Holder, error)
	// RenewAll, when set, renews many holders (built by NewHolder) in one
	// go, like Renew on each: with hundreds of addresses one at a time
	// costs a netlink dump each and starves the agent's renewals.
	RenewAll func(ctx context.Context, hs []Holder, d time.Duration) error
	Logger   hclog.Logger
	// LockWait bounds the wait for an older guard to finish and exit.
	LockWait time.Duration
	// AcceptWait bounds the wait for the agent to connect.
	AcceptWait time.Duration
}

// opTimeout bounds one netlink operation.
const opTimeout = 2 * time.Second

// Serve runs one guard: it takes the lock (waiting for an older guard to
// sweep and exit, so two never act at once), listens, serves the first agent
// that connects and returns once that agent is gone and every address it
// held is removed. It never serves a second agent: a restarted agent starts
// a guard of its own.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.LockWait == 0 {
		cfg.LockWait = 10 * time.Second
	}
	if cfg.AcceptWait == 0 {
		cfg.AcceptWait = 10 * time.Second
	}
	unlock, err := lock(ctx, cfg.Socket+".lock", cfg.LockWait)
	if err != nil {
		return err
	}
	defer unlock()
	_ = os.Remove(cfg.Socket) // left by a guard that was killed
	l, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return fmt.Errorf("guard socket: %w", err)
	}
	if err := os.Chmod(cfg.Socket, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("guard socket: %w", err)
	}
	ul := l.(*net.UnixListener)
	_ = ul.SetDeadline(time.Now().Add(cfg.AcceptWait))
	conn, err := ul.Accept()
	l.Close() // one agent per guard
	if err != nil {
		return fmt.Errorf("no agent connected within %s: %w", cfg.AcceptWait, err)
	}
	defer conn.Close()
	cfg.Logger.Info("crash guard holding for the agent", "pid", os.Getpid())
	s := &session{cfg: cfg, log: cfg.Logger, holds: map[string]Holder{}}
	return s.run(ctx, conn)
}

// lock takes an exclusive flock on path, waiting up to wait.
func lock(ctx context.Context, path string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("guard lock: %w", err)
	}
	end := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(end) {
			f.Close()
			return nil, fmt.Errorf("guard lock %s (another guard still running?): %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type session struct {
	cfg      Config
	log      hclog.Logger
	holds    map[string]Holder
	deadline int64 // CLOCK_BOOTTIME ns; 0 = never renewed
	enc      *json.Encoder
	lapses   uint64 // sweeps on the deadline (reply.Lapses)
	news     news   // holds and releases not logged at INFO yet
	// retryAt: a removal failed; the next sweep waits until then
	// (CLOCK_BOOTTIME ns), not to spin on an address it cannot remove.
	retryAt int64
}

// news gathers the holds and releases of one burst of requests for one INFO
// line each (every one is logged at DEBUG): a group of 256 addresses wrote
// 512 lines per move, which cost the guard CPU in the middle of the move.
type news struct {
	held     [][2]string // key, address
	released []string    // key
}

// newsQuiet: a burst of holds or releases is over (and logged) once no
// request came for this long; the requests of one group come back to back.
const newsQuiet = 20 * time.Millisecond

func (n news) count() int { return len(n.held) + len(n.released) }

// flushNews logs what the burst held and released, and forgets it.
func (s *session) flushNews() {
	switch h := s.news.held; len(h) {
	case 0:
	case 1:
		s.log.Info("guarding address", "key", h[0][0], "address", h[0][1])
	default:
		s.log.Info("guarding addresses", "count", len(h), "first", h[0][0]+" "+h[0][1], "last", h[len(h)-1][0]+" "+h[len(h)-1][1])
	}
	switch r := s.news.released; len(r) {
	case 0:
	case 1:
		s.log.Info("released address", "key", r[0])
	default:
		s.log.Info("released addresses", "count", len(r), "first", r[0], "last", r[len(r)-1])
	}
	s.news = news{}
}

const agentGone = "the agent is gone (its connection closed: exit, crash or kill)"

type incoming struct {
	req request
	err error
}

func (s *session) run(ctx context.Context, conn net.Conn) error {
	msgs := make(chan incoming, 64)
	go func() {
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			var r request
			err := json.Unmarshal(sc.Bytes(), &r)
			msgs <- incoming{req: r, err: err}
		}
		close(msgs)
	}()
	// Replies are buffered and written once the requests that came
	// together are answered: a group of 256 addresses held or released
	// cost a write each.
	out := bufio.NewWriter(conn)
	s.enc = json.NewEncoder(out)
	flush := func() { _ = out.Flush() } // a dead agent shows up as EOF on the reader
	every := s.cfg.Lifetime / 4
	if every <= 0 {
		every = time.Second
	}
	renew := time.NewTicker(every)
	defer renew.Stop()
	expiry, err := newBootTimer()
	if err != nil {
		return err // nothing is held yet
	}
	defer expiry.close()
	go expiry.run()
	// soon renews newly held addresses in one batch once the agent's burst
	// of holds is over (a group may hold hundreds at once).
	soon := time.NewTimer(time.Hour)
	defer soon.Stop()
	// quiet logs a burst's holds and releases once it is over.
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	armed := 0 // the count of news when quiet was last set
	// drain handles the requests that arrived meanwhile; false once the
	// agent is gone. They come first: a release must never be overtaken by
	// a renewal of the address it releases, and a renewal waiting in the
	// queue must not be taken for a missing one.
	drain := func() bool {
		for {
			select {
			case m, ok := <-msgs:
				if !s.take(m, ok, soon) {
					return false
				}
			default:
				flush()
				return true
			}
		}
	}
	for {
		flush()
		// News is logged once its burst is over: quiet is set again only
		// when more came, so that renewals do not put it off.
		if n := s.news.count(); n != armed {
			if n > 0 {
				quiet.Reset(newsQuiet)
			}
			armed = n
		}
		// Holding nothing, there is nothing to renew: a guard of a node
		// that runs no group then wakes only for the agent.
		renewC := renew.C
		if len(s.holds) == 0 {
			renewC = nil
		}
		select {
		case <-ctx.Done():
			s.final("guard stopped")
			return nil
		case m, ok := <-msgs:
			if !s.take(m, ok, soon) || !drain() {
				s.flushNews()
				return nil
			}
			s.arm(expiry)
		case <-quiet.C:
			s.flushNews()
		case <-expiry.C:
			if !drain() || !s.catchUp(conn, msgs, soon) {
				return nil
			}
			s.enforce()
			s.arm(expiry)
		case <-soon.C:
			if !drain() {
				return nil
			}
			s.renewAll()
			s.arm(expiry)
		case <-renewC:
			if !drain() {
				return nil
			}
			s.renewAll()
			s.arm(expiry)
		}
	}
}

// catchUpWait bounds how long a guard whose deadline passed waits for a
// request the agent already sent: well inside the release margin (50 ms)
// that the cluster adds to the lease before it starts the group elsewhere.
const catchUpWait = 20 * time.Millisecond

// catchUp: the deadline has passed, but the agent may have sent a renewal in
// time that this guard, starved of CPU, has not read yet: after a pause the
// Go runtime may run this loop's timer before the reader goroutine, and the
// address was swept under a lease that held (a lab test under load lost its
// VIP so). When the socket holds unread bytes the reader gets up to
// catchUpWait. The agent waits for each answer, so at most one request is on
// its way; a renewal carries its own deadline, so reading it late extends
// nothing that had ended. It returns false once the agent is gone.
func (s *session) catchUp(conn net.Conn, msgs <-chan incoming, soon *time.Timer) bool {
	if s.valid() || len(s.holds) == 0 {
		return true
	}
	if hungUp(conn) {
		// The agent died: say so, rather than that its deadline passed
		// (its reader may not have seen the hang-up yet).
		s.final(agentGone)
		return false
	}
	if !unread(conn) {
		return true
	}
	t := time.NewTimer(catchUpWait)
	defer t.Stop()
	select {
	case m, ok := <-msgs:
		return s.take(m, ok, soon)
	case <-t.C:
	}
	return true
}

// take handles one message from the reader (ok false: the agent hung up),
// and has soon renew a newly held address; false once the agent is gone.
func (s *session) take(m incoming, ok bool, soon *time.Timer) bool {
	if !ok {
		s.final(agentGone)
		return false
	}
	if s.handle(m) {
		soon.Reset(holdBatch)
	}
	return true
}

// hungUp reports whether the agent closed its end and nothing is left to
// read (a peek finds the end of the stream).
func hungUp(conn net.Conn) bool {
	eof := false
	onSocket(conn, func(fd int) {
		n, _, err := unix.Recvfrom(fd, make([]byte, 1), unix.MSG_PEEK|unix.MSG_DONTWAIT)
		eof = n == 0 && err == nil
	})
	return eof
}

// unread reports whether conn's socket holds bytes not read yet.
func unread(conn net.Conn) bool {
	n := 0
	onSocket(conn, func(fd int) { n, _ = unix.IoctlGetInt(fd, unix.SIOCINQ) })
	return n > 0
}

// onSocket runs f on conn's file descriptor, if it has one.
func onSocket(conn net.Conn, f func(fd int)) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	if raw, err := sc.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { f(int(fd)) })
	}
}

// holdBatch is how long after the last hold of a burst the new holds are
// renewed (they may be present already: re-held after a guard restart; an
// address the agent adds now gets its lifetime from the agent). Long enough
// that the renewal, a netlink dump and a change per address, does not
// contend with the agent adding the addresses of a large group: at 5 ms it
// ran in the middle of the 256 additions of BenchmarkManyAddresses. The
// lifetime is seconds.
const holdBatch = 100 * time.Millisecond

func (s *session) valid() bool { return s.deadline > bootNow() }

// sweepRetry is how long after a failed removal the guard tries again.
const sweepRetry = 100 * time.Millisecond

// arm sets the timer to the deadline, or to the next try after a removal
// failed past it.
func (s *session) arm(t *bootTimer) {
	if len(s.holds) == 0 {
		return
	}
	at := s.deadline
	if now := bootNow(); at <= now && s.retryAt > now {
		at = s.retryAt
	}
	if err := t.set(at); err != nil {
		// Never seen; without its timer the guard would sweep only at
		// the agent's next request, so it gives up the addresses now.
		s.sweep("the guard cannot set its timer: " + err.Error())
	}
}

// enforce removes everything once the deadline has passed.
func (s *session) enforce() {
	if len(s.holds) > 0 && !s.valid() {
		s.lapses++
		s.sweep("the agent's lease deadline passed without a renewal (agent frozen, stalled, cut off or out of its lease)")
	}
}

// handle answers one request; true when it held a new address, which the
// caller renews soon.
func (s *session) handle(m incoming) (held bool) {
	if m.err != nil {
		s.answer(fmt.Errorf("bad request: %w", m.err))
		return false
	}
	r := m.req
	switch r.Op {
	case "renew":
		s.deadline = r.Deadline
		s.enforce()
		s.answer(nil)
	case "hold":
		s.deadline = r.Deadline
		s.enforce()
		if !s.valid() {
			s.answer(errors.New(noLease))
			return
		}
		h, err := s.cfg.NewHolder(r.Address, r.Interface)
		if err != nil {
			s.answer(err)
			return
		}
		if _, ok := s.holds[r.Key]; !ok {
			s.log.Debug("guarding address", "key", r.Key, "address", h.String())
			s.news.held = append(s.news.held, [2]string{r.Key, h.String()})
		}
		s.holds[r.Key] = h
		s.answer(nil)
		return true
	case "keep":
		// Maintenance: the cluster leaves the address alone, and so does
		// the guard; the address becomes permanent again.
		delete(s.holds, r.Key)
		h, err := s.cfg.NewHolder(r.Address, r.Interface)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			_, err = h.Renew(ctx, 0)
			cancel()
		}
		if err == nil {
			s.log.Info("address left alone (maintenance): permanent, not guarded", "key", r.Key)
		}
		s.answer(err)
	case "release":
		if _, ok := s.holds[r.Key]; ok {
			s.log.Debug("released address", "key", r.Key)
			s.news.released = append(s.news.released, r.Key)
		}
		delete(s.holds, r.Key)
		s.answer(nil)
	default:
		s.answer(fmt.Errorf("unknown op %q", r.Op))
	}
	return false
}

func (s *session) answer(err error) {
	rep := reply{OK: err == nil, Lapses: s.lapses}
	if err != nil {
		rep.Error = err.Error()
	}
	_ = s.enc.Encode(rep) // buffered: run flushes before it waits or works
}

func (s *session) renewAll() {
	if s.cfg.RenewAll == nil || len(s.holds) < 2 {
		for k, h := range s.holds {
			s.renew(k, h)
		}
		return
	}
	if s.cfg.Lifetime <= 0 || !s.valid() {
		return
	}
	hs := make([]Holder, 0, len(s.holds))
	for _, h := range s.holds {
		hs = append(hs, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	err := s.cfg.RenewAll(ctx, hs, s.cfg.Lifetime)
	cancel()
	if err != nil {
		s.log.Warn("cannot renew address lifetimes", "count", len(hs), "error", err)
	}
	s.enforce() // undo a renewal that straddled the deadline
}

// renew extends one address's lifetime while the deadline holds. The
// deadline is checked again afterwards: a renewal that straddled the
// deadline (this process stalled in between) is undone at once.
func (s *session) renew(key string, h Holder) {
	if s.cfg.Lifetime <= 0 || !s.valid() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	_, err := h.Renew(ctx, s.cfg.Lifetime)
	cancel()
	if err != nil {
		s.log.Warn("cannot renew address lifetime", "key", key, "address", h.String(), "error", err)
	}
	s.enforce()
}

// sweep removes every held address and forgets it; one it cannot remove
// stays held, and the timer tries again after sweepRetry.
func (s *session) sweep(why string) {
	s.flushNews()
	if len(s.holds) == 0 {
		return
	}
	s.log.Warn("removing floating addresses: "+why, "count", len(s.holds))
	for k, h := range s.holds {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := h.Remove(ctx)
		cancel()
		if err != nil {
			s.log.Error("cannot remove address", "key", k, "address", h.String(), "error", err)
			s.retryAt = bootNow() + int64(sweepRetry)
			continue
		}
		s.log.Warn("removed address", "key", k, "address", h.String())
		delete(s.holds, k)
	}
}

// final sweeps before the guard exits, retrying a failed removal a few
// times (the kernel lifetime is the last line after that).
func (s *session) final(why string) {
	for i := 0; i < 10 && len(s.holds) > 0; i++ {
		if i > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		s.sweep(why)
	}
}
