package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandlers throws arbitrary requests at the operator API: it never
// panics, and a request it refuses changes nothing.
func FuzzHandlers(f *testing.F) {
	f.Add("POST", "/v1/node/standby", `{"node":"n2","standby":true}`)
	f.Add("POST", "/v1/resource/move", `{"group":"web","node":"n2"}`)
	f.Add("POST", "/v1/maintenance", `{"on":true}`)
	f.Add("POST", "/v1/fence", `{"node":"n2"}`)
	f.Add("GET", "/v1/history?limit=99999999999999999999", ``)
	f.Add("POST", "/v1/resource/cleanup", `{"group":"web","group":"web"}`)
	f.Add("POST", "/v1/internal/apply", "\x01{}")
	f.Fuzz(func(t *testing.T, method, path, body string) {
		req, err := http.NewRequest(method, "http://vigil"+path, strings.NewReader(body))
		if err != nil || !strings.HasPrefix(path, "/") {
			return // not a request an HTTP server would pass on
		}
		s, fsm := newTestServer(t)
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			if d := fsm.Read(); len(d.Events) != 0 || len(d.Nodes) != 0 || d.Maintenance {
				t.Fatalf("%s %s refused with %d but changed state", method, path, rec.Code)
			}
		}
	})
}
