// Package statuspage serves vigil's read-only live status page: plain
// HTML, CSS and JavaScript embedded in the binary (no build step), which
// polls the agent's JSON API and redraws nodes, links, groups, fencing,
// warnings and a timeline of the last failovers with their phases as bars.
package statuspage

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/vigil-ha/vigil/cluster/timeline"
)

//go:embed static
var static embed.FS

// Deps are the page's data sources. Status serves GET /v1/status and
// /v1/history read-only (the API's own handlers, which ask the leader).
type Deps struct {
	Status    http.Handler
	Failovers func() []timeline.Failover
}

// maxFailovers is how many failovers the timeline shows.
const maxFailovers = 10

// Register adds the page under /ui/ (and the data it needs) to mux. withAPI
// also mounts the read-only status API, for listeners that serve nothing
// else (the plain-HTTP telemetry listener).
func Register(mux *http.ServeMux, d Deps, withAPI bool) {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", noCache(files)))
	mux.HandleFunc("GET /ui/failovers.json", func(w http.ResponseWriter, _ *http.Request) {
		f := d.Failovers()
		if len(f) > maxFailovers {
			f = f[len(f)-maxFailovers:]
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(struct {
			Phases    []string            `json:"phases"`
			Failovers []timeline.Failover `json:"failovers"`
		}{timeline.Phases(), f})
	})
	if withAPI {
		mux.Handle("GET /v1/status", d.Status)
		mux.Handle("GET /v1/history", d.Status)
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
}

// noCache makes browsers fetch the page again after an upgrade.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
