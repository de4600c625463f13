package lab

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
)

// Browser is a headless Debian Chromium driven through chromedriver's
// WebDriver HTTP protocol, both running in a lab host's namespace.
type Browser struct {
	base    string
	session string
	http    *http.Client
}

// chromedriverPort is where chromedriver listens inside the host namespace.
const chromedriverPort = 9515

// RequireChromium skips the test when Debian's chromium and chromium-driver
// are not installed (apt-get install chromium chromium-driver).
func RequireChromium(tb interface {
	Helper()
	Skip(...any)
}) {
	tb.Helper()
	for _, b := range []string{"chromium", "chromedriver"} {
		if _, err := exec.LookPath(b); err != nil {
			tb.Skip("needs Debian's chromium and chromium-driver: " + err.Error())
		}
	}
}

// StartBrowser starts chromedriver in h and opens a headless Chromium session.
func StartBrowser(l *Lab, h *Host) *Browser {
	tb := l.tb
	tb.Helper()
	driver, _ := exec.LookPath("chromedriver")
	h.Start("chromedriver", driver, fmt.Sprintf("--port=%d", chromedriverPort))
	b := &Browser{
		base: fmt.Sprintf("http://127.0.0.1:%d", chromedriverPort),
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: dialIn(h.NS())}},
	}
	if err := poll(15*time.Second, 100*time.Millisecond, func() error {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := b.call(http.MethodGet, "/status", nil, &st); err != nil {
			return err
		}
		if !st.Ready {
			return fmt.Errorf("chromedriver not ready")
		}
		return nil
	}); err != nil {
		tb.Fatalf("lab: chromedriver: %v", err)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": "/usr/bin/chromium",
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-background-networking", "--disable-extensions", "--disable-sync",
				"--no-first-run", "--no-default-browser-check", "--window-size=1280,1000",
				"--user-data-dir=" + l.dir + "/chromium-" + h.Name()},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(http.MethodPost, "/session", caps, &sess); err != nil {
		tb.Fatalf("lab: start chromium: %v", err)
	}
	b.session = sess.SessionID
	tb.Cleanup(func() { _ = b.call(http.MethodDelete, "/session/"+b.session, nil, nil) })
	return b
}

// Navigate loads url.
func (b *Browser) Navigate(url string) error {
	return b.call(http.MethodPost, "/session/"+b.session+"/url", map[string]string{"url": url}, nil)
}

// Eval runs a JavaScript function body in the page and decodes its return
// value into out.
func (b *Browser) Eval(script string, out any) error {
	return b.call(http.MethodPost, "/session/"+b.session+"/execute/sync",
		map[string]any{"script": script, "args": []any{}}, out)
}

// Screenshot returns a PNG of the viewport.
func (b *Browser) Screenshot() ([]byte, error) {
	var s string
	if err := b.call(http.MethodGet, "/session/"+b.session+"/screenshot", nil, &s); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(s)
}

// call does one WebDriver request; the reply's "value" goes into out.
func (b *Browser) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var reply struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return fmt.Errorf("webdriver %s %s: %s: %.300s", method, path, resp.Status, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webdriver %s %s: %s: %.500s", method, path, resp.Status, reply.Value)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(reply.Value, out)
}

// dialIn dials from inside the named network namespace: the socket is
// created there (on a thread switched into it), then used from anywhere.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			return nil, err
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			return nil, err
		}
		defer func() { _ = netns.Set(orig) }()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
