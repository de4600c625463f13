// Package ec2sim is an in-process simulator of the EC2 Query API subset and
// the IMDSv2 endpoint that vigil's AWS fencer and resource agents use. It
// speaks the real wire protocol, so tests drive it with the real
// aws-sdk-go-v2 client, and it offers fault knobs (latency, throttling,
// eventual consistency, injected errors, stuck stops), power hooks and an
// ordered event log.
//
// Use it in Go tests through Serve (httptest listeners) or New + ServeHTTP +
// IMDSHandler; standalone through cmd/ec2sim with a JSON Config file
// (example.json). Admin endpoints on the API listener, for labs:
//
//	GET  /_sim/knobs                 current Knobs as JSON
//	POST /_sim/knobs                 JSON Knobs; absent fields keep their value
//	GET  /_sim/log                   the event log (API calls and state transitions)
//	POST /_sim/instances/ID/state?state=running   force a state, no hooks
//
// Every API call must carry an Authorization header (any signature is
// accepted), as the SDK always sends one.
package ec2sim

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Event is one entry of the ordered event log.
type Event struct {
	Seq    int               `json:"seq"`
	Time   time.Time         `json:"time"`
	Action string            `json:"action"` // API action, or "state" for an instance/volume transition
	Params map[string]string `json:"params"`
	Result string            `json:"result"` // "ok" or an error code
}

// Hooks run when an instance reaches a power state. They run before the new
// state becomes visible through the API, so a fencer that reads "stopped"
// knows the hook (e.g. powering a lab namespace off) has completed.
type Hooks struct {
	OnStopped func(instanceID string)
	OnStarted func(instanceID string)
}

// Sim is the simulator. Its zero value is not usable; build one with New.
type Sim struct {
	cfg   Config
	hooks Hooks

	mu        sync.Mutex
	w         *world
	stale     *world         // state before the last mutation, while stale reads last
	staleLeft map[string]int // Describe action -> stale reads left
	knobs     Knobs
	calls     int
	bucket    float64
	bucketAt  time.Time
	log       []Event
	seq       int
	ids       int // for association ids
	timers    map[*time.Timer]struct{}
	tokens    map[string]time.Time // IMDS token -> expiry
	closed    bool
}

// New builds a simulator from cfg. hooks may be zero; cfg.Hooks commands run too.
func New(cfg Config, hooks Hooks) (*Sim, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	w, err := newWorld(cfg)
	if err != nil {
		return nil, err
	}
	return &Sim{cfg: cfg, hooks: hooks, w: w, knobs: cloneKnobs(cfg.Knobs),
		staleLeft: map[string]int{}, timers: map[*time.Timer]struct{}{}, tokens: map[string]time.Time{}}, nil
}

// Close cancels pending state transitions.
func (s *Sim) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
}

func cloneKnobs(k Knobs) Knobs {
	e := map[string]InjectedError{}
	for a, v := range k.Errors {
		e[a] = v
	}
	k.Errors = e
	return k
}

// Knobs returns the current knobs.
func (s *Sim) Knobs() Knobs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneKnobs(s.knobs)
}

// SetKnobs replaces the knobs. Instances held in "stopping" by StuckStopping
// resume when it is cleared.
func (s *Sim) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wasStuck []*instance
	for _, in := range s.w.instances {
		if in.State == "stopping" && s.stuckLocked(in) {
			wasStuck = append(wasStuck, in)
		}
	}
	s.knobs = cloneKnobs(k)
	for _, in := range wasStuck {
		if !s.stuckLocked(in) {
			s.scheduleStopLocked(in)
		}
	}
}

// UpdateKnobs applies f to a copy of the knobs and installs the result.
func (s *Sim) UpdateKnobs(f func(*Knobs)) {
	k := s.Knobs()
	f(&k)
	s.SetKnobs(k)
}

// Log returns a copy of the event log.
func (s *Sim) Log() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.log...)
}

// InstanceState returns the current (not stale) state of an instance.
func (s *Sim) InstanceState(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in, ok := s.w.instances[id]; ok {
		return in.State
	}
	return ""
}

// SetInstanceState forces an instance's state (for tests and labs), without hooks.
func (s *Sim) SetInstanceState(id, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.w.instances[id]
	if !ok {
		return fmt.Errorf("no instance %s", id)
	}
	if _, ok := stateCodes[state]; !ok {
		return fmt.Errorf("bad state %q", state)
	}
	in.State = state
	return nil
}

// AddressENI returns the ENI an Elastic IP is associated with ("" if none).
func (s *Sim) AddressENI(allocationID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.w.addresses[allocationID]; ok {
		return a.ENI
	}
	return ""
}

// ENIAddresses returns an ENI's private IPs, primary first.
func (s *Sim) ENIAddresses(eniID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.w.enis[eniID]; ok {
		return append([]string(nil), e.IPs...)
	}
	return nil
}

// RouteTarget returns the ENI a route points at.
func (s *Sim) RouteTarget(table, dest string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.w.tables[table]; ok {
		for _, r := range t.Routes {
			if r.Destination == dest {
				return r.ENI
			}
		}
	}
	return ""
}

// VolumeAttachment returns the instance, device and attachment state of a volume.
func (s *Sim) VolumeAttachment(id string) (instanceID, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.w.volumes[id]; ok {
		return v.InstanceID, v.Attach
	}
	return "", ""
}

func (s *Sim) recordLocked(action string, params map[string]string, result string) {
	s.seq++
	s.log = append(s.log, Event{Seq: s.seq, Time: time.Now(), Action: action, Params: params, Result: result})
}

// Scheduled is the number of state changes still to come (stops, starts):
// zero proves that no instance will change state unless an API call or a
// knob makes it.
func (s *Sim) Scheduled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.timers)
}

// afterLocked runs f (under the lock) after d, unless the simulator is closed.
func (s *Sim) afterLocked(d time.Duration, f func()) {
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, t)
		if !s.closed {
			f()
		}
	})
	s.timers[t] = struct{}{}
}

func (s *Sim) stuckLocked(in *instance) bool {
	switch s.knobs.StuckStopping {
	case "always":
		return true
	case "graceful":
		return !in.forced
	}
	return false
}

// scheduleStopLocked completes a stop after the configured delay. The stop
// hook runs without the lock held, before "stopped" becomes visible.
func (s *Sim) scheduleStopLocked(in *instance) {
	d := time.Duration(s.knobs.StopDelay)
	if in.forced {
		d = time.Duration(s.knobs.ForceStopDelay)
	}
	id := in.ID
	s.afterLocked(d, func() {
		cur := s.w.instances[id]
		if cur.State != "stopping" || s.stuckLocked(cur) {
			return
		}
		s.powerLocked(id, "stopped", s.hooks.OnStopped, s.cfg.Hooks.OnStopped)
	})
}

func (s *Sim) scheduleStartLocked(in *instance) {
	id := in.ID
	s.afterLocked(time.Duration(s.knobs.StartDelay), func() {
		if s.w.instances[id].State != "pending" {
			return
		}
		s.powerLocked(id, "running", s.hooks.OnStarted, s.cfg.Hooks.OnStarted)
	})
}

// powerLocked runs the hooks with the lock released, then sets the state.
func (s *Sim) powerLocked(id, state string, goHook func(string), cmd string) {
	s.mu.Unlock()
	if goHook != nil {
		goHook(id)
	}
	res := "ok"
	if cmd != "" {
		c := exec.Command("sh", "-c", cmd)
		c.Env = append(os.Environ(), "INSTANCE_ID="+id, "STATE="+state)
		if out, err := c.CombinedOutput(); err != nil {
			res = fmt.Sprintf("hook failed: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	s.mu.Lock()
	in := s.w.instances[id]
	from := in.State
	in.State = state
	in.forced = false
	s.recordLocked("state", map[string]string{"InstanceId": id, "From": from, "To": state}, res)
}

// throttledLocked decides whether this call is throttled.
func (s *Sim) throttledLocked(now time.Time) bool {
	s.calls++
	if n := s.knobs.ThrottleEvery; n > 0 && s.calls%n == 0 {
		return true
	}
	if r := s.knobs.ThrottleRate; r > 0 {
		if s.bucketAt.IsZero() {
			s.bucket = r
		} else {
			s.bucket = min(r, s.bucket+now.Sub(s.bucketAt).Seconds()*r)
		}
		s.bucketAt = now
		if s.bucket < 1 {
			return true
		}
		s.bucket--
	}
	return false
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ http.Handler = (*Sim)(nil)
