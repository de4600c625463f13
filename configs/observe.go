package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Telemetry is the optional plain-HTTP listener for Prometheus metrics and
// the status page. Off (Listen == "") by default.
type Telemetry struct {
	Listen string // host:port
}

// Alert is one alert hook: an executable run for each matching cluster event
// (like a Pacemaker alert agent or a keepalived notify script).
type Alert struct {
	Name      string
	Exec      string   // absolute path of an executable, run without a shell
	Args      []string // extra arguments
	Timeout   time.Duration
	Events    []string // subset of AlertEventKinds; all of them when empty in HCL
	Recipient string   // passed as VIGIL_ALERT_RECIPIENT (a URL, an address...)
}

// AlertEventKinds are the event classes an alert can subscribe to.
func AlertEventKinds() []string { return []string{"node", "group", "fence", "leader", "resource"} }

const defaultAlertTimeout = 30 * time.Second

func (d *decoder) telemetry(t *Telemetry, bodies []hcl.Body) {
	if len(bodies) == 0 {
		return
	}
	const key = "telemetry"
	attrs, _ := d.content(key, bodies, attrSchema([]string{"listen"}))
	if a := attrs["listen"]; a != nil && d.str(key+".listen", a, &t.Listen) {
		if msg := checkHostPort(t.Listen); msg != "" {
			d.errRange(a.NameRange, key+".listen", "%s", msg)
		}
	}
}

func (d *decoder) alert(key string, b *hcl.Block) Alert {
	al := Alert{Name: b.Labels[0], Timeout: defaultAlertTimeout, Events: AlertEventKinds()}
	attrs, _ := d.content(key, []hcl.Body{b.Body}, attrSchema([]string{"exec", "args", "timeout", "events", "recipient"}))
	d.str(key+".recipient", attrs["recipient"], &al.Recipient)
	if a := attrs["timeout"]; a != nil {
		d.duration(key+".timeout", a, &al.Timeout)
		if al.Timeout <= 0 {
			d.errRange(a.NameRange, key+".timeout", "must be positive, e.g. \"10s\"")
		}
	}
	if a := attrs["args"]; a != nil {
		al.Args, _ = d.list(key+".args", a)
	}
	if a := attrs["events"]; a != nil {
		if evs, ok := d.list(key+".events", a); ok {
			al.Events = nil
			for _, e := range evs {
				if !slices.Contains(AlertEventKinds(), e) {
					d.errRange(a.NameRange, key+".events", "unknown event %q (use %s)", e, strings.Join(AlertEventKinds(), ", "))
					continue
				}
				al.Events = append(al.Events, e)
			}
			if len(evs) == 0 {
				d.errRange(a.NameRange, key+".events", "is empty: list at least one of %s, or leave it out for all", strings.Join(AlertEventKinds(), ", "))
			}
		}
	}
	a := attrs["exec"]
	if a == nil {
		d.errRange(b.DefRange, key+".exec", "is required: the path of the program to run for each event")
		return al
	}
	d.path(key+".exec", a, &al.Exec)
	if msg := checkExecutable(al.Exec); msg != "" {
		d.errRange(a.NameRange, key+".exec", "%s", msg)
	}
	return al
}

// checkExecutable explains why path cannot be run as an alert hook ("" = fine).
func checkExecutable(path string) string {
	if !filepath.IsAbs(path) {
		return fmt.Sprintf("%q must be an absolute path (hooks run without a shell and without PATH lookup)", path)
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fileErr(path, err).Error()
	case !st.Mode().IsRegular():
		return fmt.Sprintf("'%s' is not a regular file", path)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("'%s' is not executable (chmod +x)", path)
	case st.Mode().Perm()&0o002 != 0:
		return fmt.Sprintf("'%s' is world-writable: anyone could change what the agent runs (chmod o-w)", path)
	}
	return ""
}
