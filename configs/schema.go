package configs

import "sort"

// Kind is how a type-specific key is written in HCL and checked once decoded.
// Every kind lands in a Params map as a string.
type Kind int

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
	Default  string // stored in Params when the key is absent ("" = none)
	Secret   bool   // a *_file key whose content goes into Fence.Secrets
}

// TypeSchema is the static set of keys one resource, fence or check type takes.
type TypeSchema map[string]Key

// Keys returns the schema's key names, sorted.
func (s TypeSchema) Keys() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Schemas holds the schema tables for every built-in type. It is built by a
// function, not kept in a package variable, so nobody can mutate it.
type Schemas struct {
	Resources map[string]TypeSchema
	Fences    map[string]TypeSchema
	Checks    map[string]TypeSchema
}

// BuiltinSchemas returns the schema of every built-in resource, fence and
// check type. The agents in resources/, fencing/ and health/ read exactly
// these keys from their Params.
func BuiltinSchemas() Schemas {
	str := Key{Kind: KindString}
	req := Key{Kind: KindString, Required: true}
	return Schemas{
		Resources: map[string]TypeSchema{
			"ipaddr": {
				"address":       {Kind: KindCIDR, Required: true},
				"interface":     req,
				"garp_count":    {Kind: KindInt, Default: "5"},
				"garp_interval": {Kind: KindDuration, Default: "200ms"},
				"garp_refresh":  {Kind: KindDuration},
			},
			"exec": {
				"start":  req,
				"stop":   req,
				"status": req,
				"dir":    str,
				"env":    {Kind: KindMap},
			},
			"ocf": {
				"agent":    req, // provider:type, checked in validate
				"params":   {Kind: KindMap},
				"ocf_root": str,
			},
			"systemd": {"unit": req},
			"awseip": {
				"allocation_id": req,
				"private_ip":    {Kind: KindIP},
				"eni":           str,
			},
			"awsip": {
				"address":   {Kind: KindIP, Required: true},
				"interface": req,
				"eni":       str,
			},
			"awsroute": {
				"route_tables": {Kind: KindList, Required: true},
				"destination":  {Kind: KindCIDR, Required: true},
				"interface":    str,
				"address":      {Kind: KindIP},
			},
			"ebs": {
				"volume_id": req,
				"device":    req,
			},
		},
		Fences: map[string]TypeSchema{
			"ipmi": {
				"host":          req,
				"port":          {Kind: KindInt},
				"username":      req,
				"password_file": {Kind: KindString, Required: true, Secret: true},
				"cipher_suite":  str,
				"ipmitool_path": str,
			},
			"exec": {
				"agent":         req,
				"params":        {Kind: KindMap},
				"password_file": {Kind: KindString, Secret: true},
			},
			"aws": {
				"instance_id": req,
				"region":      str,
			},
		},
		Checks: map[string]TypeSchema{
			"http": {
				"url":            req,
				"method":         {Kind: KindString, Default: "GET"},
				"expect_status":  {Kind: KindString, Default: "200-399"},
				"body_contains":  str,
				"tls_verify":     {Kind: KindBool, Default: "true"},
				"source_address": {Kind: KindIP},
			},
			"tcp": {
				"address":        {Kind: KindHostPort, Required: true},
				"send":           str,
				"expect":         str,
				"source_address": {Kind: KindIP},
			},
			"exec": {"command": req},
		},
	}
}

// Common keys every block of a kind takes besides its type-specific ones.
func resourceCommonKeys() []string {
	return []string{"start_timeout", "stop_timeout", "monitor_timeout", "monitor_interval", "on_fail"}
}
func fenceCommonKeys() []string { return []string{"timeout", "retries", "monitor_interval"} }
func checkCommonKeys() []string { return []string{"interval", "timeout", "rise", "fall"} }

// Defaults for the common keys.
const (
	defaultOpTimeout          = "20s"
	defaultMonitorInterval    = "10s"
	defaultOnFail             = "restart"
	defaultMigrationThreshold = 3
	defaultMinMoveInterval    = "60s"
	defaultCheckInterval      = "2s"
	defaultCheckTimeout       = "1s"
	defaultCheckRise          = 2
	defaultCheckFall          = 3
	defaultFenceTimeout       = "30s"
	defaultFenceRetries       = 2
	defaultFenceMonitor       = "60s" // Pacemaker's stonith monitor interval
	defaultLogLevel           = "info"
	defaultTiming             = "lan"
	defaultSocketName         = "vigil.sock"
)

// OnFail values a resource accepts.
func onFailValues() []string { return []string{"restart", "move", "fence", "standby", "ignore"} }

// Log levels accepted by log_level.
func logLevels() []string { return []string{"trace", "debug", "info", "warn", "error"} }
