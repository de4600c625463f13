// Package params describes the type-specific keys of resource, fence and
// check types. Each type's package exports its Schema; config validation
// (configs), the type's constructor and the documentation's key tables all
// read that one schema. The package has no dependencies so that configs can
// use it without importing the types themselves.
package params

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is how a key is written in HCL and checked once decoded. Every kind
// lands in a parameter map as a string.
type Kind int

// The kinds.
const (
	KindString   Kind = iota
	KindInt           // decimal integer
	KindBool          // "true" / "false"
	KindDuration      // Go duration, e.g. "200ms"
	KindCIDR          // address with prefix length, e.g. "198.18.0.100/24"
	KindHostPort      // host:port
	KindIP            // bare IP address
	KindList          // HCL list of strings, stored joined with ","
	KindMap           // HCL map, stored flattened as "<key>.<mapkey>"
)

func (k Kind) String() string {
	return [...]string{"string", "integer", "bool", "duration", "CIDR", "host:port", "IP address", "list", "map"}[k]
}

// Key describes one type-specific key.
type Key struct {
	Kind     Kind
	Required bool
	Default  string // stored in the parameters when the key is absent ("" = none)
	Secret   bool   // a *_file key whose content is read as a secret
	Doc      string // one line for the documentation's key table
}

// Schema is the set of keys one type takes, by name.
type Schema map[string]Key

// Registry holds the schema of every type, by kind of block and type name.
type Registry struct {
	Resources map[string]Schema
	Fences    map[string]Schema
	Checks    map[string]Schema
}

// Keys returns the schema's key names, sorted.
func (s Schema) Keys() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DocOrder returns the key names in documentation order: required keys
// first, then the others, each sorted.
func (s Schema) DocOrder() []string {
	keys := s.Keys()
	sort.SliceStable(keys, func(i, j int) bool { return s[keys[i]].Required && !s[keys[j]].Required })
	return keys
}

// Check validates a parameter map against the schema the way config loading
// does: unknown keys, missing or empty required keys (but for secrets,
// which config loading reads), and each value's format. typ names the type in messages. Constructors call it so that a
// spec built in code gets the same checks as one from a config file.
func (s Schema) Check(typ string, values map[string]string) error {
	var errs []error
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, p := range names {
		name, _, isSub := strings.Cut(p, ".")
		k, ok := s[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: unknown parameter %q (known: %s)", typ, p, strings.Join(s.Keys(), ", ")))
		case isSub != (k.Kind == KindMap):
			errs = append(errs, fmt.Errorf("%s: parameter %q must be a %s", typ, name, k.Kind))
		default:
			if msg := CheckValue(k.Kind, values[p]); msg != "" {
				errs = append(errs, fmt.Errorf("%s: %s: %s", typ, name, msg))
			}
		}
	}
	for _, name := range s.Keys() {
		// A secret's file is config loading's business: it hands the
		// content to the type, which checks for it there.
		if k := s[name]; k.Required && !k.Secret && strings.TrimSpace(values[name]) == "" {
			errs = append(errs, fmt.Errorf("%s: parameter %q is required", typ, name))
		}
	}
	return errors.Join(errs...)
}

// CheckValue returns a message when v is not a valid value of kind k.
func CheckValue(k Kind, v string) string {
	switch k {
	case KindInt:
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Sprintf("%q is not an integer", v)
		}
	case KindBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Sprintf("%q is not true or false", v)
		}
	case KindDuration:
		if _, err := parseDuration(v); err != nil {
			return err.Error()
		}
	case KindCIDR:
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Sprintf("%q is not an address with prefix length (CIDR), e.g. \"198.18.0.100/24\"", v)
		}
	case KindHostPort:
		return checkHostPort(v)
	case KindIP:
		if _, err := netip.ParseAddr(v); err != nil {
			return fmt.Sprintf("%q is not an IP address", v)
		}
	case KindList:
		for _, it := range strings.Split(v, ",") {
			if strings.TrimSpace(it) == "" {
				return "list must not contain empty elements"
			}
		}
	}
	return ""
}

// checkHostPort accepts "ip:port" or "name:port" with a numeric port.
func checkHostPort(v string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return fmt.Sprintf("%q is not host:port", v)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q is not host:port (port must be 1-65535)", v)
	}
	return ""
}

// parseDuration is configs' duration rule (surrounding space allowed).
func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: \"500ms\", \"2s\", \"1m30s\")", v)
	}
	return d, nil
}
