package ec2sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

type apiError struct {
	Status  int
	Code    string
	Message string
}

func errf(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// req is one parsed API call.
type req struct {
	form url.Values
}

func (r req) get(k string) string { return r.form.Get(k) }

// flag reports whether a boolean parameter was sent, and its value.
func (r req) flag(k string) (set, val bool) {
	v, ok := r.form[k]
	if !ok || len(v) == 0 {
		return false, false
	}
	return true, strings.EqualFold(v[0], "true")
}

// list returns Prefix.1, Prefix.2, ... in order.
func (r req) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := r.form[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// filters returns Filter.N.Name -> values.
func (r req) filters() map[string][]string {
	f := map[string][]string{}
	for i := 1; ; i++ {
		name, ok := r.form["Filter."+strconv.Itoa(i)+".Name"]
		if !ok {
			return f
		}
		f[name[0]] = append(f[name[0]], r.list("Filter."+strconv.Itoa(i)+".Value")...)
	}
}

// match reports whether v satisfies filter name (absent filter matches).
func match(f map[string][]string, name string, vs ...string) bool {
	want, ok := f[name]
	if !ok {
		return true
	}
	for _, w := range want {
		for _, v := range vs {
			if w == v {
				return true
			}
		}
	}
	return false
}

// node is a tiny XML tree: response bodies are built from E/T calls.
type node struct {
	name, text string
	kids       []node
	leaf       bool
}

// E is an element with children; T is a text element.
func E(name string, kids ...node) node { return node{name: name, kids: kids} }
func T(name, text string) node         { return node{name: name, text: text, leaf: true} }

func (n node) write(b *strings.Builder) {
	b.WriteString("<" + n.name + ">")
	if n.leaf {
		b.WriteString(xmlEscape(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</" + n.name + ">")
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

func tstamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Sim) requestID() string { return fmt.Sprintf("sim-%08d", s.seq+1) }

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + body))
}

func writeErr(w http.ResponseWriter, e *apiError, reqID string) {
	var b strings.Builder
	E("Response", E("Errors", E("Error", T("Code", e.Code), T("Message", e.Message))), T("RequestID", reqID)).write(&b)
	writeXML(w, e.Status, b.String())
}

type handlerFunc func(s *Sim, r req) ([]node, *apiError)

var actions = map[string]handlerFunc{
	"DescribeInstances":          (*Sim).describeInstances,
	"StopInstances":              (*Sim).stopInstances,
	"StartInstances":             (*Sim).startInstances,
	"AssociateAddress":           (*Sim).associateAddress,
	"DisassociateAddress":        (*Sim).disassociateAddress,
	"DescribeAddresses":          (*Sim).describeAddresses,
	"AssignPrivateIpAddresses":   (*Sim).assignPrivateIPs,
	"UnassignPrivateIpAddresses": (*Sim).unassignPrivateIPs,
	"DescribeNetworkInterfaces":  (*Sim).describeENIs,
	"ReplaceRoute":               (*Sim).replaceRoute,
	"DescribeRouteTables":        (*Sim).describeRouteTables,
	"AttachVolume":               (*Sim).attachVolume,
	"DetachVolume":               (*Sim).detachVolume,
	"DescribeVolumes":            (*Sim).describeVolumes,
}

// ServeHTTP serves the EC2 Query API on any path and the admin API under /_sim/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if strings.HasPrefix(hr.URL.Path, "/_sim/") {
		s.serveAdmin(w, hr)
		return
	}
	if hr.Method != http.MethodPost {
		writeErr(w, errf(400, "InvalidAction", "EC2 Query API needs POST"), "sim-0")
		return
	}
	if err := hr.ParseForm(); err != nil {
		writeErr(w, errf(400, "MalformedQueryString", "%v", err), "sim-0")
		return
	}
	r := req{form: hr.PostForm}
	action := r.get("Action")
	params := map[string]string{}
	for k, v := range r.form {
		if k != "Action" && k != "Version" {
			params[k] = strings.Join(v, ",")
		}
	}
	if err := sleepCtx(hr.Context(), time.Duration(s.Knobs().Latency)); err != nil {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	reqID := s.requestID()
	fail := func(e *apiError) {
		s.recordLocked(action, params, e.Code)
		writeErr(w, e, reqID)
	}
	if hr.Header.Get("Authorization") == "" {
		fail(errf(401, "AuthFailure", "AWS was not able to validate the provided access credentials"))
		return
	}
	h, ok := actions[action]
	if !ok {
		fail(errf(400, "InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	if s.throttledLocked(time.Now()) {
		fail(errf(503, "RequestLimitExceeded", "Request limit exceeded."))
		return
	}
	if ie, ok := s.knobs.Errors[action]; ok {
		if ie.Count > 0 {
			ie.Count--
			if ie.Count == 0 {
				delete(s.knobs.Errors, action)
			} else {
				s.knobs.Errors[action] = ie
			}
		}
		st := ie.Status
		if st == 0 {
			st = 400
		}
		fail(errf(st, ie.Code, "injected error"))
		return
	}
	describe := strings.HasPrefix(action, "Describe")
	if set, v := r.flag("DryRun"); set && v {
		fail(errf(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."))
		return
	}
	var before *world
	if !describe && s.knobs.StaleReads > 0 && s.stale == nil {
		before = s.w.clone()
	}
	kids, e := h(s, r)
	if e != nil {
		fail(e)
		return
	}
	if !describe && s.knobs.StaleReads > 0 {
		if before != nil {
			s.stale = before
		}
		for a := range actions {
			if strings.HasPrefix(a, "Describe") {
				s.staleLeft[a] = s.knobs.StaleReads
			}
		}
	}
	s.recordLocked(action, params, "ok")
	var b strings.Builder
	E(action+"Response", append([]node{T("requestId", reqID)}, kids...)...).write(&b)
	body := strings.Replace(b.String(), "<"+action+"Response>",
		"<"+action+`Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`, 1)
	writeXML(w, 200, body)
}

// view returns the world a Describe action should read: the stale copy while
// eventual-consistency reads remain for that action, else the live one.
func (s *Sim) view(action string) *world {
	if s.stale == nil || s.staleLeft[action] <= 0 {
		return s.w
	}
	s.staleLeft[action]--
	w := s.stale
	done := true
	for _, n := range s.staleLeft {
		if n > 0 {
			done = false
		}
	}
	if done {
		s.stale = nil
	}
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// serveAdmin: GET/POST /_sim/knobs, GET /_sim/log, POST /_sim/instances/{id}/state?state=running.
func (s *Sim) serveAdmin(w http.ResponseWriter, hr *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case hr.URL.Path == "/_sim/knobs" && hr.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Knobs())
	case hr.URL.Path == "/_sim/knobs" && hr.Method == http.MethodPost:
		// Fields absent from the body keep their current value.
		k := s.Knobs()
		if err := json.NewDecoder(hr.Body).Decode(&k); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetKnobs(k)
		_ = json.NewEncoder(w).Encode(s.Knobs())
	case hr.URL.Path == "/_sim/log" && hr.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Log())
	case strings.HasPrefix(hr.URL.Path, "/_sim/instances/") && strings.HasSuffix(hr.URL.Path, "/state") && hr.Method == http.MethodPost:
		id := strings.TrimSuffix(strings.TrimPrefix(hr.URL.Path, "/_sim/instances/"), "/state")
		if err := s.SetInstanceState(id, hr.URL.Query().Get("state")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("{}\n"))
	default:
		http.NotFound(w, hr)
	}
}
