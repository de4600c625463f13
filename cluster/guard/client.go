package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ClientConfig configures the agent's side of the guard.
type ClientConfig struct {
	Socket string
	// Command is the guard's argv ("/proc/self/exe", "guard", ...).
	Command []string
	// Lease returns the end of this node's lease, and whether it holds now.
	Lease  func() (time.Time, bool)
	Every  time.Duration // renewal period; default 50ms
	Logger hclog.Logger
	// Lapsed, if set, is called when the client learns that the guard
	// removed the addresses (its count went up, or a guard that held them
	// was replaced): the lease may hold again by then, and the executor
	// re-adds them at once rather than at its next monitor. Called with
	// the client locked: it must not call back, nor block.
	Lapsed func()
}

// Client starts the guard, renews its deadline and tells it which addresses
// to guard. Hold and Release may be called from any goroutine.
type Client struct {
	cfg ClientConfig

	mu    sync.Mutex
	conn  net.Conn
	rd    *bufio.Reader
	proc  *os.Process
	done  chan struct{} // closed when proc has been reaped
	holds map[string][2]string
	retry time.Time // no new guard before this, after one failed to start
	// pending: a new guard has not taken every held address yet (it
	// refuses while the lease is out); retried at every renewal.
	pending bool
	lapses  atomic.Uint64 // Lapses
	// lapsesBefore: the lapses of the guards this one replaced; lapsesNow:
	// the running guard's own count (under mu).
	lapsesBefore, lapsesNow uint64
	sent                    int64         // the last deadline the guard was sent (boot ns; Run)
	answered                time.Time     // the guard's last reply
	wake                    chan struct{} // a Hold or a Nudge: Run looks now
}

// NewClient returns a client; Run starts the guard.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Every <= 0 {
		cfg.Every = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Client{cfg: cfg, holds: map[string][2]string{}, wake: make(chan struct{}, 1)}
}

// replyTimeout: a guard that does not answer within it is stuck; it is
// killed and replaced (a stuck guard must not renew anything later).
const replyTimeout = time.Second

// idleCheck is how often a guard that holds nothing is asked anything: its
// deadline then guards nothing, and a Hold sends a fresh one itself.
const idleCheck = time.Second

// Run keeps a guard running and looks at the lease until ctx ends,
// renewing the guard's deadline when that is due (dueLocked): at the
// earliest instant a renewal could be due (nextLookLocked), at a Hold, and
// when Nudge says the lease end moved earlier; while the guard holds
// nothing, every idleCheck. Then it closes the connection: the guard
// removes whatever is still held and exits; Run waits for that (bounded).
func (c *Client) Run(ctx context.Context) error {
	t := time.NewTimer(c.cfg.Every)
	defer t.Stop()
	for {
		c.mu.Lock()
		if c.dueLocked() {
			if err := c.renewLocked(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn("crash guard", "error", err)
			}
		}
		wait := c.cfg.Every
		if c.conn != nil && !c.pending {
			if len(c.holds) == 0 {
				wait = max(wait, idleCheck-time.Since(c.answered))
			} else {
				wait = max(wait, c.nextLookLocked())
			}
		}
		c.mu.Unlock()
		t.Reset(wait)
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil
		case <-t.C:
		case <-c.wake:
		}
	}
}

// nextLookLocked is how long Run may sleep before a renewal can be due
// with the guard holding addresses: until the guard's deadline is three
// looks away, or until a lease end that moves on with the clock (a
// leader's, at every quorum acknowledgement) would have gained a quarter
// of its lead, whichever comes first. A follower's lease end moves in
// steps at its renewals; a step is then sent at the next look rather than
// at once, which leaves the guard a deadline a little further behind the
// lease, never past it, and renewed three looks before it passes all the
// same. An end that moved earlier comes with a Nudge. Looking every Every
// instead cost a `lan` holder 10 wake-ups a second, a `fast` one 50.
func (c *Client) nextLookLocked() time.Duration {
	d, now := c.deadline(), bootNow()
	must := c.sent - int64(3*c.cfg.Every) - now
	gain := (d-now)/4 - (d - c.sent)
	return time.Duration(min(must, gain))
}

// Nudge tells Run to look at the lease now: its end moved earlier (the
// lease keeper calls it), which must reach the guard at once.
func (c *Client) Nudge() { c.woken() }

// woken tells Run that something is held now.
func (c *Client) woken() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// dueLocked: a renewal is worth its round trip (each costs the agent and
// the guard a few syscalls; at every tick they were a fifth of an idle
// agent's CPU). At once when no guard runs yet, when a new guard still has
// to take the addresses, and when the lease end moved earlier than the
// deadline the guard has (a lapse must reach it now). A later lease end
// is sent once it gains a quarter of the lead it gives: a follower's lease
// end moves in steps, at each answered lease renewal, so it is sent about
// once per renewal, with at least three quarters of the lease in hand; a
// leader's moves at every quorum acknowledgement. And whatever the gain,
// once the guard's deadline is less than three looks away: a lease end that
// creeps forward a millisecond at a time would otherwise never be worth
// sending, and the guard's deadline would pass under a lease that holds (a
// lab test saw a leader's VIP removed so). Holding nothing, the guard is
// only checked every idleCheck.
func (c *Client) dueLocked() bool {
	if c.conn == nil || c.pending {
		return true
	}
	if len(c.holds) == 0 {
		return time.Since(c.answered) >= idleCheck
	}
	d, now := c.deadline(), bootNow()
	return d < c.sent || c.sent-now < int64(3*c.cfg.Every) || d-c.sent >= (d-now)/4
}

func (c *Client) deadline() int64 {
	end, ok := c.cfg.Lease()
	if !ok {
		return 1
	}
	return bootDeadline(end)
}

func (c *Client) renewLocked(ctx context.Context) error {
	if err := c.ensureLocked(ctx); err != nil {
		return err
	}
	return c.callLocked(request{Op: "renew", Deadline: c.deadline()})
}

// Hold tells the guard to remove address from iface if this agent dies or
// its lease lapses. Call it before adding the address.
func (c *Client) Hold(ctx context.Context, key, address, iface string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(ctx); err != nil {
		return fmt.Errorf("crash guard not running: %w", err)
	}
	if err := c.callLocked(request{Op: "hold", Key: key, Address: address, Interface: iface, Deadline: c.deadline()}); err != nil {
		return fmt.Errorf("crash guard: %w", err)
	}
	c.holds[key] = [2]string{address, iface}
	c.woken()
	return nil
}

// Release tells the guard to stop renewing the address; call it before
// removing the address. With no guard running there is nothing to tell.
func (c *Client) Release(ctx context.Context, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.holds, key)
	if c.conn == nil {
		return
	}
	if err := c.callLocked(request{Op: "release", Key: key}); err != nil {
		c.cfg.Logger.Warn("crash guard: release", "key", key, "error", err)
	}
}

// Keep tells the guard to leave an address alone (maintenance): it makes
// it permanent and stops guarding it. Hold guards it again.
func (c *Client) Keep(ctx context.Context, key, address, iface string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.holds, key)
	if err := c.ensureLocked(ctx); err != nil {
		return fmt.Errorf("crash guard not running: %w", err)
	}
	return c.callLocked(request{Op: "keep", Key: key, Address: address, Interface: iface})
}

// ensureLocked starts a guard and connects to it if there is none, and
// hands it the addresses held so far (after a guard was lost).
func (c *Client) ensureLocked(ctx context.Context) error {
	if c.conn != nil {
		if c.pending {
			return c.handOverLocked()
		}
		return nil
	}
	if c.proc != nil {
		c.cfg.Logger.Warn("crash guard lost; starting a new one", "old_pid", c.proc.Pid)
		c.killLocked()
	}
	if time.Now().Before(c.retry) {
		return errors.New("the last guard failed to start; retrying shortly")
	}
	if err := c.startLocked(ctx); err != nil {
		c.retry = time.Now().Add(time.Second)
		return err
	}
	c.pending = true
	return c.handOverLocked()
}

// startLocked starts a guard process and connects to it.
func (c *Client) startLocked(ctx context.Context) error {
	cmd := exec.Command(c.cfg.Command[0], c.cfg.Command[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group, so a signal to the agent's group (a terminal's
	// ^C, a supervisor) does not reach it. Not its own session: with
	// autogroup scheduling a new session is a new CPU group at normal
	// weight, where the agent's raised priority means nothing, and on a
	// saturated machine the guard starved for up to a second there.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start guard: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.proc, c.done = cmd.Process, done
	end := time.Now().Add(15 * time.Second) // it may wait for an older guard's sweep
	for {
		conn, err := net.Dial("unix", c.cfg.Socket)
		if err == nil {
			c.conn, c.rd = conn, bufio.NewReader(conn)
			// The new guard counts from 0. A replacement counts as a lapse
			// itself when the old guard had held addresses: it was stuck or
			// killed, and their kernel lifetime may have run out meanwhile.
			c.lapsesBefore += c.lapsesNow
			if len(c.holds) > 0 {
				c.lapsesBefore++
				c.lapsedLocked()
			}
			c.lapsesNow, c.sent = 0, 0
			c.lapses.Store(c.lapsesBefore)
			break
		}
		select {
		case <-done:
			c.proc = nil
			return errors.New("the guard exited before accepting (see its log)")
		case <-ctx.Done():
			c.killLocked()
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(end) {
			c.killLocked()
			return fmt.Errorf("guard did not listen on %s: %w", c.cfg.Socket, err)
		}
	}
	c.cfg.Logger.Info("crash guard started", "pid", c.proc.Pid, "socket", c.cfg.Socket)
	return nil
}

// handOverLocked gives a new guard the addresses held so far.
func (c *Client) handOverLocked() error {
	keys := make([]string, 0, len(c.holds))
	for k := range c.holds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := c.holds[k]
		if err := c.callLocked(request{Op: "hold", Key: k, Address: h[0], Interface: h[1], Deadline: c.deadline()}); err != nil {
			return fmt.Errorf("hand %s to the new guard: %w", k, err)
		}
	}
	c.pending = false
	return nil
}

// callLocked sends one request and reads its reply. Any failure drops the
// guard (killed, so it can never act on a stale state) for the next
// ensureLocked to replace.
func (c *Client) callLocked(r request) error {
	if c.conn == nil {
		return errors.New("not connected")
	}
	b, _ := json.Marshal(r)
	_ = c.conn.SetDeadline(time.Now().Add(replyTimeout))
	var rep reply
	_, err := c.conn.Write(append(b, '\n'))
	if err == nil {
		var line []byte
		if line, err = c.rd.ReadBytes('\n'); err == nil {
			err = json.Unmarshal(line, &rep)
		}
	}
	if err != nil {
		c.cfg.Logger.Warn("crash guard unreachable; replacing it", "error", err)
		c.killLocked()
		return err
	}
	c.answeredLocked(r, rep)
	if !rep.OK {
		return errors.New(rep.Error)
	}
	return nil
}

// answeredLocked notes what the guard's reply to r tells: its lapse count,
// when it last answered, and the deadline it now has.
func (c *Client) answeredLocked(r request, rep reply) {
	if rep.Lapses > c.lapsesNow {
		c.lapsedLocked()
	}
	c.lapsesNow = rep.Lapses
	c.lapses.Store(c.lapsesBefore + rep.Lapses)
	c.answered = time.Now()
	if r.Deadline != 0 {
		c.sent = r.Deadline
	}
}

func (c *Client) lapsedLocked() {
	if c.cfg.Lapsed != nil {
		c.cfg.Lapsed()
	}
}

// Lapses is how many times this agent's guards removed the addresses
// because the lease deadline passed, plus the replacements of a guard that
// held addresses; it carries over when a guard is replaced (each guard
// counts from 0). Renewals are not sent at every tick (dueLocked), so an
// answer older than a tick is refreshed first: the executor asks when an
// address went missing, and must learn whether the guard removed it.
func (c *Client) Lapses() uint64 {
	c.mu.Lock()
	if c.conn != nil && time.Since(c.answered) > c.cfg.Every {
		_ = c.callLocked(request{Op: "renew", Deadline: c.deadline()})
	}
	c.mu.Unlock()
	return c.lapses.Load()
}

// killLocked closes the connection and kills and reaps the guard.
func (c *Client) killLocked() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.rd = nil, nil
	}
	if c.proc == nil {
		return
	}
	_ = c.proc.Kill()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	c.proc, c.done = nil, nil
}

// shutdown closes the connection so that the guard sweeps and exits.
func (c *Client) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.rd = nil, nil
	}
	if c.done != nil {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.cfg.Logger.Warn("crash guard still running 5s after the agent let it go", "pid", c.proc.Pid)
		}
	}
}

// Pid is the running guard's pid (0 if none), for tests and status.
func (c *Client) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.Pid
}

// batchSize bounds the requests written before their replies are read, so
// that the replies never fill the socket while the requests are written
// (256 replies of at most a few hundred bytes each: well under a unix
// socket's buffer). A group of 256 addresses is one exchange.
const batchSize = 256

// HoldMany is Hold for many addresses ({key, address, interface} each) in
// few exchanges (requests pipelined, then their replies read): a group of
// hundreds of addresses must not wait for a round trip per address. It
// returns each one's error; an address whose hold failed must not be added.
func (c *Client) HoldMany(ctx context.Context, holds [][3]string) []error {
	errs := make([]error, len(holds))
	c.mu.Lock()
	defer c.mu.Unlock()
	for start := 0; start < len(holds); start += batchSize {
		part := holds[start:min(start+batchSize, len(holds))]
		reqs := make([]request, len(part))
		if err := c.ensureLocked(ctx); err != nil {
			for i := range part {
				errs[start+i] = fmt.Errorf("crash guard not running: %w", err)
			}
			continue
		}
		for i, h := range part {
			reqs[i] = request{Op: "hold", Key: h[0], Address: h[1], Interface: h[2], Deadline: c.deadline()}
		}
		for i, err := range c.callManyLocked(reqs) {
			if err != nil {
				errs[start+i] = fmt.Errorf("crash guard: %w", err)
				continue
			}
			c.holds[part[i][0]] = [2]string{part[i][1], part[i][2]}
		}
	}
	c.woken()
	return errs
}

// ReleaseMany is Release for many keys in few exchanges.
func (c *Client) ReleaseMany(ctx context.Context, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.holds, k)
	}
	for start := 0; start < len(keys) && c.conn != nil; start += batchSize {
		part := keys[start:min(start+batchSize, len(keys))]
		reqs := make([]request, len(part))
		for i, k := range part {
			reqs[i] = request{Op: "release", Key: k}
		}
		for i, err := range c.callManyLocked(reqs) {
			if err != nil {
				c.cfg.Logger.Warn("crash guard: release", "key", part[i], "error", err)
			}
		}
	}
}

// callManyLocked is callLocked for several requests: all written at once,
// then one reply read per request, in order. A failure to talk drops the
// guard as callLocked does; every request without a reply then fails.
func (c *Client) callManyLocked(reqs []request) []error {
	errs := make([]error, len(reqs))
	if c.conn == nil {
		for i := range errs {
			errs[i] = errors.New("not connected")
		}
		return errs
	}
	var buf []byte
	for _, r := range reqs {
		b, _ := json.Marshal(r)
		buf = append(append(buf, b...), '\n')
	}
	_ = c.conn.SetDeadline(time.Now().Add(replyTimeout))
	_, err := c.conn.Write(buf)
	for i := range reqs {
		if err == nil {
			var line []byte
			var rep reply
			if line, err = c.rd.ReadBytes('\n'); err == nil {
				if err = json.Unmarshal(line, &rep); err == nil {
					c.answeredLocked(reqs[i], rep)
					if !rep.OK {
						errs[i] = errors.New(rep.Error)
					}
				}
			}
		}
		if err != nil {
			errs[i] = err
		}
	}
	if err != nil {
		c.cfg.Logger.Warn("crash guard unreachable; replacing it", "error", err)
		c.killLocked()
	}
	return errs
}
