package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// maxHTTPBody caps how much of a response body is read (and searched for
// body_contains), so a misbehaving endpoint cannot make a check eat memory.
const maxHTTPBody = 64 << 10

// statusRange is an inclusive range of acceptable HTTP status codes.
type statusRange struct{ lo, hi int }

// HTTPCheck requests a URL and expects a status (and optionally a body substring).
type HTTPCheck struct {
	url          string
	method       string
	expect       []statusRange
	bodyContains string
	client       *http.Client
	logger       hclog.Logger
}

// NewHTTP builds an http check. Params: url (required, http or https), method
// (GET), expect_status ("200-399"; also "200" or "200,204" or "200-299,304"),
// body_contains, tls_verify ("true"), source_address (local IP to bind).
func NewHTTP(s Spec) (Check, error) {
	p := s.Params
	if err := HTTPSchema().Check("http check", p); err != nil {
		return nil, err
	}
	raw := p["url"]
	if raw == "" {
		return nil, errors.New("http check: url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the URL, which may hold a password: say less.
		return nil, errors.New("http check: url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("http check: url scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("http check: url has no host")
	}
	method := strings.ToUpper(p["method"])
	if method == "" {
		method = http.MethodGet
	}
	if strings.ContainsAny(method, " \t\r\n") {
		return nil, fmt.Errorf("http check: invalid method %q", method)
	}
	expectRaw := p["expect_status"]
	if expectRaw == "" {
		expectRaw = "200-399"
	}
	expect, err := parseStatusRanges(expectRaw)
	if err != nil {
		return nil, err
	}
	if method == http.MethodHead && p["body_contains"] != "" {
		return nil, errors.New("http check: body_contains needs a method that returns a body, not HEAD")
	}
	verify := true
	if v := p["tls_verify"]; v != "" {
		verify, err = strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("http check: tls_verify %q is not a boolean", v)
		}
	}
	local, err := parseSourceAddress("http", p["source_address"])
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{}
	if local != nil {
		dialer.LocalAddr = local
	}
	tr := &http.Transport{
		// Never an environment proxy: the check must reach the service itself.
		Proxy:       nil,
		DialContext: dialer.DialContext,
		// A fresh connection per run, so a dead listener or a broken accept
		// queue is seen instead of being hidden by a pooled connection.
		DisableKeepAlives:  true,
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: !verify}, //nolint:gosec // operator's explicit choice
	}
	client := &http.Client{
		Transport: tr,
		// Like haproxy's httpchk: a redirect is an answer, judged by expect_status.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	logger := s.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &HTTPCheck{
		url:          u.String(),
		method:       method,
		expect:       expect,
		bodyContains: p["body_contains"],
		client:       client,
		logger:       logger,
	}, nil
}

// parseStatusRanges parses "200-399", "200" or "200,204,300-399".
func parseStatusRanges(s string) ([]statusRange, error) {
	var out []statusRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(strings.TrimSpace(lo))
		h, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return nil, fmt.Errorf("http check: expect_status %q: bad element %q (want e.g. 200, 200-399, 200,204)", s, part)
		}
		out = append(out, statusRange{l, h})
	}
	return out, nil
}

func (c *HTTPCheck) statusOK(code int) bool {
	for _, r := range c.expect {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// Run performs one request; ctx carries the timeout.
func (c *HTTPCheck) Run(ctx context.Context) Result {
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, nil)
	if err != nil {
		return Result{Output: "building request: " + redactErr(err), At: time.Now()}
	}
	req.Header.Set("User-Agent", "vigil-health/1")
	resp, err := c.client.Do(req)
	if err != nil {
		return Result{Output: redactErr(err), At: time.Now()}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	status := "HTTP " + resp.Status
	if !c.statusOK(resp.StatusCode) {
		return Result{Output: status, At: time.Now()}
	}
	if c.bodyContains != "" && !bytes.Contains(body, []byte(c.bodyContains)) {
		out := fmt.Sprintf("%s: body does not contain %q", status, truncate(c.bodyContains, 64))
		if readErr != nil {
			out += " (reading body: " + redactErr(readErr) + ")"
		}
		return Result{Output: out, At: time.Now()}
	}
	return Result{OK: true, Output: status, At: time.Now()}
}

// redactErr drops the url.Error wrapper (which repeats the URL, possibly with
// credentials) and keeps the cause, e.g. "dial tcp 127.0.0.1:80: connect: connection refused".
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}
