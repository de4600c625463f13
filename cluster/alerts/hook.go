package alerts

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/configs"
)

// hookPath is the PATH hooks run with: they get a clean environment, not
// the agent's (which may hold cloud credentials).
const hookPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxOutput bounds the hook output kept for the log.
const maxOutput = 2048

// work runs alert a's hook for each queued event, one at a time, in order.
func (x *Dispatcher) work(ctx context.Context, a configs.Alert, q <-chan Event, retire <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-q:
			x.run(ctx, a, ev)
		case <-retire: // replaced by a reload: run what is queued, then end
			for {
				select {
				case ev := <-q:
					x.run(ctx, a, ev)
				default:
					return
				}
			}
		}
	}
}

// Env is the environment a hook gets for ev (documented in
// docs/observability.md).
func Env(a configs.Alert, ev Event, cluster, local string) []string {
	return []string{
		"PATH=" + hookPath,
		"VIGIL_ALERT_NAME=" + a.Name,
		"VIGIL_ALERT_RECIPIENT=" + a.Recipient,
		"VIGIL_ALERT_KIND=" + ev.Kind,
		"VIGIL_ALERT_EVENT=" + ev.Name,
		"VIGIL_ALERT_NODE=" + ev.Node,
		"VIGIL_ALERT_GROUP=" + ev.Group,
		"VIGIL_ALERT_RESULT=" + ev.Result,
		"VIGIL_ALERT_MESSAGE=" + ev.Message,
		"VIGIL_ALERT_TIME=" + ev.Time.Format("2006-01-02T15:04:05.000Z07:00"),
		"VIGIL_ALERT_TIMESTAMP_MS=" + strconv.FormatInt(ev.Time.UnixMilli(), 10),
		"VIGIL_ALERT_SEQUENCE=" + strconv.FormatUint(ev.Sequence, 10),
		"VIGIL_ALERT_CLUSTER=" + cluster,
		"VIGIL_ALERT_LOCAL_NODE=" + local,
	}
}

// run runs the hook once. Its process group is killed at the timeout, so a
// hook's children (curl...) cannot outlive it.
func (x *Dispatcher) run(ctx context.Context, a configs.Alert, ev Event) {
	cctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, a.Exec, a.Args...)
	cmd.Env = Env(a, ev, x.d.Cluster, x.d.Node)
	cmd.Dir = "/"
	var out bytes.Buffer
	w := &limited{b: &out} // one writer: exec then never writes from two goroutines at once
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		result = "timeout"
		x.d.Logger.Error("alert hook timed out and was killed", "alert", a.Name, "event", ev.Name,
			"timeout", a.Timeout, "output", strings.TrimSpace(out.String()))
	case ctx.Err() != nil:
		return // shutting down: not the hook's fault
	default:
		result = "failed"
		x.d.Logger.Error("alert hook failed", "alert", a.Name, "event", ev.Name, "error", err,
			"output", strings.TrimSpace(out.String()))
	}
	if result == "ok" {
		x.d.Logger.Debug("alert hook ran", "alert", a.Name, "event", ev.Name, "duration", took.Round(time.Millisecond))
	}
	if x.d.Recorder != nil {
		x.d.Recorder.AlertRan(a.Name, result, took)
	}
}

// limited keeps the first maxOutput bytes and discards the rest.
type limited struct{ b *bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
