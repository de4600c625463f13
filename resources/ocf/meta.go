package ocf

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/subproc"
)

// metaDataTimeout bounds the meta-data action (agents declare ~5s).
const metaDataTimeout = 10 * time.Second

// maxMetaData bounds the meta-data document (the largest in resource-agents
// is ~40 KiB).
const maxMetaData = 1 << 20

// Meta is an agent's self-description from its meta-data action.
type Meta struct {
	Agent      string // provider:type
	Name       string
	Parameters []Param
	Actions    []Action
}

// Param is one parameter an agent accepts.
type Param struct {
	Name     string
	Required bool
	Unique   bool
	Type     string // string, integer, boolean...
	Default  string
}

// Action is one action an agent implements, with its advised timeout.
type Action struct {
	Name     string
	Timeout  time.Duration // 0 when not given
	Interval time.Duration // for monitor
	Depth    int
}

// MetaData runs the agent's meta-data action and parses its XML.
func MetaData(ocfRoot, agent string) (*Meta, error) {
	provider, typ, err := SplitAgent(agent)
	if err != nil {
		return nil, err
	}
	if ocfRoot == "" {
		ocfRoot = DefaultRoot
	}
	a := &Agent{root: ocfRoot, provider: provider, typ: typ, path: agentPath(ocfRoot, provider, typ), instance: typ}
	ctx, cancel := context.WithTimeout(context.Background(), metaDataTimeout)
	defer cancel()
	// The whole document is needed, and stdout alone: stderr is for errors.
	res, err := subproc.Run(ctx, subproc.Cmd{Path: a.path, Args: []string{"meta-data"}, Dir: "/",
		Env: a.env(ctx), SeparateStdout: true, MaxOutput: maxMetaData, KillLeftovers: true})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s meta-data: %w", agent, err)
	case res.ExitCode != 0:
		return nil, fmt.Errorf("%s meta-data: %s: %s", agent, ExitName(res.ExitCode), res.Output)
	case res.Truncated:
		return nil, fmt.Errorf("%s meta-data: document larger than %d bytes", agent, maxMetaData)
	}
	out := res.Stdout
	m, err := ParseMeta(out)
	if err != nil {
		return nil, fmt.Errorf("%s meta-data: %w", agent, err)
	}
	m.Agent = provider + ":" + typ
	return m, nil
}

type xmlAgent struct {
	Name   string `xml:"name,attr"`
	Params []struct {
		Name     string `xml:"name,attr"`
		Required string `xml:"required,attr"`
		Unique   string `xml:"unique,attr"`
		Content  struct {
			Type    string `xml:"type,attr"`
			Default string `xml:"default,attr"`
		} `xml:"content"`
	} `xml:"parameters>parameter"`
	Actions []struct {
		Name     string `xml:"name,attr"`
		Timeout  string `xml:"timeout,attr"`
		Interval string `xml:"interval,attr"`
		Depth    string `xml:"depth,attr"`
	} `xml:"actions>action"`
}

// ParseMeta parses an OCF meta-data document.
func ParseMeta(doc []byte) (*Meta, error) {
	var x xmlAgent
	if err := xml.Unmarshal(doc, &x); err != nil {
		return nil, fmt.Errorf("parse XML: %w", err)
	}
	m := &Meta{Name: x.Name}
	for _, p := range x.Params {
		m.Parameters = append(m.Parameters, Param{
			Name:     p.Name,
			Required: xmlBool(p.Required),
			Unique:   xmlBool(p.Unique),
			Type:     p.Content.Type,
			Default:  p.Content.Default,
		})
	}
	for _, ac := range x.Actions {
		act := Action{Name: ac.Name}
		var err error
		if act.Timeout, err = ocfDuration(ac.Timeout); err != nil {
			return nil, fmt.Errorf("action %s timeout: %w", ac.Name, err)
		}
		if act.Interval, err = ocfDuration(ac.Interval); err != nil {
			return nil, fmt.Errorf("action %s interval: %w", ac.Name, err)
		}
		act.Depth, _ = strconv.Atoi(ac.Depth)
		m.Actions = append(m.Actions, act)
	}
	return m, nil
}

// Check rejects parameters the agent does not declare and required ones
// that are missing. params is keyed by OCF parameter name (without the
// "params." prefix of the config).
func (m *Meta) Check(params map[string]string) error {
	known := make(map[string]Param, len(m.Parameters))
	for _, p := range m.Parameters {
		known[p.Name] = p
	}
	var errs []error
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := known[k]; !ok {
			errs = append(errs, fmt.Errorf("ocf:%s has no parameter %q", m.Agent, k))
		}
	}
	for _, p := range m.Parameters {
		if _, ok := params[p.Name]; p.Required && !ok {
			errs = append(errs, fmt.Errorf("ocf:%s requires parameter %q", m.Agent, p.Name))
		}
	}
	return errors.Join(errs...)
}

// Action returns the named action, if the agent declares it.
func (m *Meta) Action(name string) (Action, bool) {
	for _, a := range m.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

func xmlBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// ocfDuration parses "20s", "2m", "500ms" or a bare number of seconds.
func ocfDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// Params extracts the agent parameters from a resource's config Params
// ("params.<name>" keys), keyed by OCF name, ready for Meta.Check.
func Params(config map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range config {
		if name, ok := strings.CutPrefix(k, "params."); ok {
			out[name] = v
		}
	}
	return out
}

// Validate reads the agent's meta-data and checks a resource's configured
// parameters (the "params.<name>" keys) against it: unknown and missing
// required parameters are errors. vigil runs it at config load.
func Validate(params map[string]string) error {
	root := params["ocf_root"]
	if root == "" {
		root = DefaultRoot
	}
	m, err := MetaData(root, params["agent"])
	if err != nil {
		return err
	}
	return m.Check(Params(params))
}
