package lab

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// statusPageGroup is one VIP group, preferring n1.
const statusPageGroup = `
telemetry {
  listen = "0.0.0.0:9464"
}

group "vip" {
  prefer = "n1"
  resource "ipaddr" "vip" {
    address          = "198.18.0.100/24"
    interface        = "eth0"
    monitor_interval = "1s"
  }
}
`

// TestStatusPage loads the live status page from the witness's telemetry
// listener in headless Chromium (in a client namespace), powers the group's
// holder off, and checks without reloading that the page shows the group on
// the other node with the failover in the timeline; a screenshot is kept.
// The same listener's /metrics must pass the official parser and promtool,
// a clean stop must log no warning or error, and `vigil leader transfer`
// must move leadership.
func TestStatusPage(t *testing.T) {
	RequireChromium(t)
	l := New(t, "vlabsp")
	client := l.AddClient("client", "198.18.0.50")
	// An alert hook on every node records what it is told.
	hook := filepath.Join(l.Dir(), "hook.sh")
	script := "#!/bin/sh\necho \"$VIGIL_ALERT_KIND|$VIGIL_ALERT_EVENT|$VIGIL_ALERT_NODE|$VIGIL_ALERT_GROUP\" >> " +
		filepath.Join(l.Dir(), "alerts-") + "$VIGIL_ALERT_LOCAL_NODE.log\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := StartCluster(l, ClusterSpec{Preset: "fast", Extra: statusPageGroup +
		fmt.Sprintf("alert \"record\" {\n  exec = %q\n  timeout = \"5s\"\n}\n", hook)})
	const settle = 30 * time.Second
	c.WaitHealthy(settle)
	holder := waitGroupStarted(t, c, "vip", "", settle)
	other := map[string]string{"n1": "n2", "n2": "n1"}[holder]

	t.Run("CleanStopLogsNoWarnings", func(t *testing.T) {
		p := c.Agent(other)
		c.Stop(other)
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		_, stop, ok := strings.Cut(string(b), "shutting down")
		if !ok {
			t.Fatalf("%s's log has no shutdown:\n%s", other, tail(p.Log, 40))
		}
		for _, line := range strings.Split(stop, "\n") {
			if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
				t.Errorf("clean stop of %s logged: %s", other, line)
			}
		}
		c.Start(other)
		c.WaitHealthy(settle)
	})

	t.Run("LeaderTransfer", func(t *testing.T) {
		leader := c.WaitLeader(settle)
		target := "w"
		if leader == "w" {
			target = other
		}
		out, err := c.CLI(other, "leader", "transfer", target)
		if err != nil || !strings.Contains(out, "leader is now "+target) {
			t.Fatalf("leader transfer to %s: %q %v", target, out, err)
		}
		if got := c.WaitLeader(settle); got != target {
			t.Errorf("leader %s after transfer to %s", got, target)
		}
	})

	b := StartBrowser(l, client)
	page := "http://" + c.Node("w").Host.IP(Pub) + ":9464/ui/"
	if err := b.Navigate(page); err != nil {
		t.Fatal(err)
	}
	// The group's row as the page renders it: [node, state].
	row := func() []string {
		var r []string
		_ = b.Eval(`const r = document.querySelector('#groups tr[data-group="vip"]');
			return r ? [r.dataset.node, r.dataset.state] : null;`, &r)
		return r
	}
	c.Eventually(15*time.Second, "page shows vip started on "+holder, func() error {
		if r := row(); len(r) != 2 || r[0] != holder || r[1] != "started" {
			return fmt.Errorf("page row %v", r)
		}
		return nil
	})
	var marked bool
	if err := b.Eval(`window.vigilSamePage = true; return true;`, &marked); err != nil || !marked {
		t.Fatalf("mark page: %v", err)
	}

	c.PowerOff(holder)
	c.Eventually(60*time.Second, "page shows vip started on "+other, func() error {
		if r := row(); len(r) != 2 || r[0] != other || r[1] != "started" {
			return fmt.Errorf("page row %v", r)
		}
		return nil
	})
	var timeline struct {
		Same   bool     `json:"same"`
		To     string   `json:"to"`
		Phases []string `json:"phases"`
		Node   string   `json:"node"`
	}
	c.Eventually(10*time.Second, "the timeline shows the failover", func() error {
		err := b.Eval(`const f = document.querySelector('#timeline .failover[data-group="vip"]');
			const n = document.querySelector('#nodes tr[data-node="`+holder+`"]');
			return {same: window.vigilSamePage === true, to: f ? f.dataset.to : "",
				phases: f ? [...f.querySelectorAll('.bar')].map(b => b.dataset.phase) : [],
				node: n ? n.dataset.state : ""};`, &timeline)
		if err != nil {
			return err
		}
		if timeline.To != other || len(timeline.Phases) == 0 {
			return fmt.Errorf("timeline %+v", timeline)
		}
		return nil
	})
	if !timeline.Same {
		t.Error("the page reloaded: it must update in place")
	}
	if timeline.Node == "online" || timeline.Node == "" {
		t.Errorf("powered-off %s shows as %q on the page", holder, timeline.Node)
	}
	t.Logf("failover %s -> %s drawn with phases %v; %s shown %s", holder, other, timeline.Phases, holder, timeline.Node)

	shot, err := b.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 800 || r.Dy() < 600 {
		t.Errorf("screenshot is %v", r)
	}
	path := filepath.Join(os.TempDir(), "vigil-lab-statuspage-"+l.Prefix()+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the page after the failover: %s", path)

	t.Run("AlertHooksRanOnTheLeader", func(t *testing.T) {
		want := []string{"node|node-failed|" + holder + "|", "group|group-started|" + other + "|vip", "leader|leader|"}
		c.Eventually(10*time.Second, "alert hooks", func() error {
			var all string
			for _, n := range []string{other, "w"} {
				b, _ := os.ReadFile(filepath.Join(l.Dir(), "alerts-"+n+".log"))
				all += string(b)
			}
			for _, w := range want {
				if !strings.Contains(all, w) {
					return fmt.Errorf("no %q in the hooks' records:\n%s", w, all)
				}
			}
			return nil
		})
	})

	t.Run("MetricsOnTheTelemetryListener", func(t *testing.T) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialIn(client.NS())}}
		resp, err := hc.Get("http://" + c.Node("w").Host.IP(Pub) + ":9464/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("text parser: %v", err)
		}
		found := false
		for _, m := range fams["vigil_failovers_total"].GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "group" && lp.GetValue() == "vip" && m.GetCounter().GetValue() >= 1 {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("vigil_failovers_total has no failover of vip:\n%s", fams["vigil_failovers_total"])
		}
		if pt, err := exec.LookPath("promtool"); err == nil {
			cmd := exec.Command(pt, "check", "metrics")
			cmd.Stdin = bytes.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		}
		// The listener is read-only: no writes through it.
		resp, err = hc.Post("http://"+c.Node("w").Host.IP(Pub)+":9464/v1/node/standby", "application/json",
			strings.NewReader(`{"node":"w","standby":true}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("POST on the telemetry listener: %s", resp.Status)
		}
	})
}
