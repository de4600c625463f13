package agent

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/membership"
	"github.com/vigil-ha/vigil/cluster/reload"
	"github.com/vigil-ha/vigil/configs"
)

// metaPendingKey is the gossiped list of changed sections that wait for a
// restart of that node (so every node's status can name them).
const metaPendingKey = "cfgp"

// ReloadReply says what a reload did.
type ReloadReply struct {
	Applied []string        `json:"applied,omitempty"` // live changes made now, one line each
	Pending []reload.Change `json:"pending,omitempty"` // changes that wait for a restart
	Hash    string          `json:"hash"`              // the running configuration's hash
}

// ErrNoReload is returned when the agent was started without a way to re-read
// its configuration (dev mode, tests).
var ErrNoReload = errors.New("this agent cannot reload: it was started without a configuration file")

// Reload re-reads the configuration (Deps.Load validates all of it first: a
// bad file changes nothing and the error names file:line) and applies what
// can change live: the log level, certificates re-read from their files,
// groups and resources, health checks, order/colocate constraints, fence
// devices and alert hooks (applyLive). Unchanged groups are not touched.
// The other changes (nodes, timing, listeners, paths, TLS file names) stay
// pending: status names them until the agent restarts (docs/operations.md).
func (a *Agent) Reload() (ReloadReply, error) {
	if a.d.Load == nil {
		return ReloadReply{}, ErrNoReload
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	next, err := a.d.Load()
	if err != nil {
		return ReloadReply{}, err
	}
	var r ReloadReply
	// Pending: what differs from the configuration the agent started with
	// and cannot change live.
	for _, c := range reload.Diff(a.cfg, next) {
		if !c.Live {
			r.Pending = append(r.Pending, c)
		}
	}
	applied, pending, err := a.reloadTLS(next)
	if err != nil {
		return r, fmt.Errorf("nothing reloaded: certificate not reloaded (the running one stays): %w", err)
	}
	running := a.current()
	merged := reload.Merge(running, next)
	lines, err := a.applyLive(running, merged)
	if err != nil {
		return r, fmt.Errorf("groups, checks and fence devices not reloaded (the running ones stay): %w", err)
	}
	if applied != "" {
		r.Applied = append(r.Applied, applied)
	}
	if pending != nil {
		r.Pending = append(r.Pending, *pending)
	}
	// The log level is compared with the one in force (a previous reload
	// may have changed it), not with the file the agent started with.
	if cur := cmp.Or(a.logLevel, a.cfg.LogLevel); next.LogLevel != cur {
		a.log.SetLevel(hclog.LevelFromString(next.LogLevel))
		a.logLevel = next.LogLevel
		r.Applied = append(r.Applied, "log_level "+next.LogLevel)
	}
	r.Applied = append(r.Applied, lines...)
	a.pending.Store(&r.Pending)
	r.Hash = reload.Hash(merged)
	a.cfgHash.Store(r.Hash)
	if err := a.mem.UpdateMeta(2 * time.Second); err != nil && !errors.Is(err, membership.ErrNotRunning) {
		a.log.Warn("reload: gossiping the configuration state", "error", err)
	}
	a.log.Info("configuration reloaded", "applied", strings.Join(r.Applied, "; "), "pending_restart", sections(r.Pending))
	return r, nil
}

func sections(cs []reload.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Section)
	}
	return strings.Join(s, ",")
}

// reloadMeta adds the running configuration's hash and the sections that
// wait for a restart to our gossiped metadata.
func (a *Agent) reloadMeta(extra map[string]string) {
	extra[reload.MetaKey], _ = a.cfgHash.Load().(string)
	if p := a.pending.Load(); p != nil && len(*p) > 0 {
		s := sections(*p)
		if len(s) > 120 {
			s = s[:120] // metadata is capped at 512 bytes
		}
		extra[metaPendingKey] = s
	}
}

// configWarnings names the nodes whose running configuration differs, and
// the nodes with reloaded changes that wait for a restart.
func configWarnings(members map[string]membership.Member, nodes []configs.Node) []string {
	byHash := map[string][]string{}
	var out []string
	for _, n := range nodes {
		m, ok := members[n.Name]
		if !ok || m.State == membership.StateDead || m.State == membership.StateLeft {
			continue
		}
		if h := m.Meta.Extra[reload.MetaKey]; h != "" {
			byHash[h] = append(byHash[h], n.Name)
		}
		if p := m.Meta.Extra[metaPendingKey]; p != "" {
			out = append(out, fmt.Sprintf("%s: configuration changes wait for a restart of its agent: %s", n.Name, p))
		}
	}
	if len(byHash) > 1 {
		var parts []string
		for h, names := range byHash {
			verb := "runs"
			if len(names) > 1 {
				verb = "run"
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", strings.Join(names, ", "), verb, h))
		}
		sort.Strings(parts)
		out = append(out, "configuration differs between nodes: "+strings.Join(parts, "; ")+
			" (make the files the same on every node, then `vigil reload` or restart)")
	}
	return out
}

// registerReload adds POST /v1/reload to the API (unix socket and operator
// TLS only: a node cannot reload another).
func (a *Agent) registerReload() {
	a.api.Handle("POST /v1/reload", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r, err := a.Reload()
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			code := http.StatusUnprocessableEntity
			if errors.Is(err, ErrNoReload) {
				code = http.StatusConflict
			}
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(r)
	}))
}
