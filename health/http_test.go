package health_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/health"
)

func mustHTTP(t *testing.T, params map[string]string) health.Check {
	t.Helper()
	c, err := health.NewHTTP(health.Spec{Name: "t", Params: params})
	if err != nil {
		t.Fatalf("NewHTTP(%v): %v", params, err)
	}
	return c
}

func runWithin(c health.Check, d time.Duration) health.Result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Run(ctx)
}

// statusServer answers /code/NNN with status NNN and /redirect with a 302.
func statusServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/code/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		w.WriteHeader(n)
		fmt.Fprintf(w, "method=%s status=%d", r.Method, n)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/code/500", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPStatusExpectations(t *testing.T) {
	srv := statusServer(t)
	cases := []struct {
		path, expect string
		ok           bool
		output       string
	}{
		{"/code/200", "", true, "HTTP 200 OK"},
		{"/code/204", "", true, "HTTP 204 No Content"},
		{"/code/503", "", false, "HTTP 503 Service Unavailable"},
		{"/code/404", "", false, "HTTP 404 Not Found"},
		// Redirects are not followed: the 302 itself is judged.
		{"/redirect", "", true, "HTTP 302 Found"},
		{"/redirect", "200", false, "HTTP 302 Found"},
		{"/code/200", "200", true, "HTTP 200 OK"},
		{"/code/204", "200,204", true, "HTTP 204 No Content"},
		{"/code/201", "200,204", false, "HTTP 201 Created"},
		{"/code/503", "200-299, 503", true, "HTTP 503 Service Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.path+"_"+tc.expect, func(t *testing.T) {
			p := map[string]string{"url": srv.URL + tc.path}
			if tc.expect != "" {
				p["expect_status"] = tc.expect
			}
			res := runWithin(mustHTTP(t, p), 2*time.Second)
			if res.OK != tc.ok || res.Output != tc.output {
				t.Fatalf("got OK=%v %q, want OK=%v %q", res.OK, res.Output, tc.ok, tc.output)
			}
			if res.At.IsZero() {
				t.Fatal("Result.At not set")
			}
		})
	}
}

func TestHTTPMethod(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method)
	}))
	defer srv.Close()
	for _, m := range []string{"", "head", "POST"} {
		res := runWithin(mustHTTP(t, map[string]string{"url": srv.URL, "method": m}), 2*time.Second)
		want := strings.ToUpper(m)
		if want == "" {
			want = "GET"
		}
		if !res.OK || got.Load() != want {
			t.Fatalf("method %q: server saw %v, result %+v", m, got.Load(), res)
		}
	}
}

func TestHTTPBodyContains(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			// The needle sits after the 64 KiB cap: it must not be found.
			w.Write([]byte(strings.Repeat("x", 100<<10) + "NEEDLE"))
			return
		}
		w.Write([]byte(`{"status":"UP"}`))
	}))
	defer srv.Close()

	res := runWithin(mustHTTP(t, map[string]string{"url": srv.URL, "body_contains": `"UP"`}), 2*time.Second)
	if !res.OK {
		t.Fatalf("body contains UP: %+v", res)
	}
	res = runWithin(mustHTTP(t, map[string]string{"url": srv.URL, "body_contains": "DOWN"}), 2*time.Second)
	if res.OK || res.Output != `HTTP 200 OK: body does not contain "DOWN"` {
		t.Fatalf("missing body text: %+v", res)
	}
	res = runWithin(mustHTTP(t, map[string]string{"url": srv.URL + "/big", "body_contains": "NEEDLE"}), 2*time.Second)
	if res.OK {
		t.Fatalf("found text past the 64KiB read cap: %+v", res)
	}
}

func TestHTTPSVerify(t *testing.T) {
	// httptest's TLS server uses a self-signed certificate no system root trusts.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	defer srv.Close()

	res := runWithin(mustHTTP(t, map[string]string{"url": srv.URL}), 2*time.Second)
	if res.OK || !strings.Contains(res.Output, "certificate") {
		t.Fatalf("self-signed cert accepted with tls_verify default: %+v", res)
	}
	res = runWithin(mustHTTP(t, map[string]string{"url": srv.URL, "tls_verify": "false"}), 2*time.Second)
	if !res.OK || res.Output != "HTTP 200 OK" {
		t.Fatalf("tls_verify=false: %+v", res)
	}
}

func TestHTTPSourceAddress(t *testing.T) {
	var remote atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		remote.Store(host)
	}))
	defer srv.Close()
	// All of 127.0.0.0/8 is local on Linux, so 127.0.0.2 is a distinct bindable source.
	res := runWithin(mustHTTP(t, map[string]string{"url": srv.URL, "source_address": "127.0.0.2"}), 2*time.Second)
	if !res.OK || remote.Load() != "127.0.0.2" {
		t.Fatalf("server saw %v, result %+v", remote.Load(), res)
	}
}

func TestHTTPFreshConnectionEachRun(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := mustHTTP(t, map[string]string{"url": srv.URL})
	for i := 0; i < 3; i++ {
		if res := runWithin(c, 2*time.Second); !res.OK {
			t.Fatalf("run %d: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("3 runs used %d connections; want a fresh one per run", n)
	}
}

func TestHTTPTimeoutAndRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()
	start := time.Now()
	res := runWithin(mustHTTP(t, map[string]string{"url": srv.URL}), 100*time.Millisecond)
	if res.OK || !strings.Contains(res.Output, "timeout") {
		t.Fatalf("hanging server: %+v", res)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("check ignored its timeout: took %v", el)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res = runWithin(mustHTTP(t, map[string]string{"url": "http://admin:s3cret@" + addr + "/health"}), 2*time.Second)
	if res.OK || !strings.Contains(res.Output, "connection refused") {
		t.Fatalf("closed port: %+v", res)
	}
	if strings.Contains(res.Output, "s3cret") {
		t.Fatalf("password leaked into output: %q", res.Output)
	}
}

func TestHTTPParamValidation(t *testing.T) {
	bad := []map[string]string{
		{},
		{"url": "ftp://example.com/"},
		{"url": "http:///nohost"},
		{"url": "http://x/", "expect_status": "abc"},
		{"url": "http://x/", "expect_status": "600"},
		{"url": "http://x/", "expect_status": "399-200"},
		{"url": "http://x/", "expect_status": "200,"},
		{"url": "http://x/", "tls_verify": "maybe"},
		{"url": "http://x/", "source_address": "eth0"},
		{"url": "http://x/", "method": "GET /x"},
		{"url": "http://x/", "expect_staus": "200"},
		{"url": "http://x/", "method": "HEAD", "body_contains": "ok"},
	}
	for _, p := range bad {
		if _, err := health.NewHTTP(health.Spec{Name: "t", Params: p}); err == nil {
			t.Errorf("NewHTTP(%v) accepted invalid params", p)
		}
	}
	_, err := health.NewHTTP(health.Spec{Params: map[string]string{"url": "http://u:s3cret@x/%zz"}})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL error %v: want an error without the password", err)
	}
	good := map[string]string{"url": "https://[::1]:8443/h", "method": "post", "expect_status": "200-299,304",
		"body_contains": "ok", "tls_verify": "0", "source_address": "::1"}
	if _, err := health.NewHTTP(health.Spec{Params: good}); err != nil {
		t.Errorf("NewHTTP(%v): %v", good, err)
	}
}
