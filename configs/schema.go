package configs

import "github.com/vigil-ha/vigil/params"

// The schema types live in package params, which each resource, fence and
// check type uses to export its own schema; the registry of built-in types
// is wired in package builtin. These aliases keep configs' code short.
type (
	// Kind is how a type-specific key is written and checked.
	Kind = params.Kind
	// Key describes one type-specific key.
	Key = params.Key
	// TypeSchema is the set of keys one type takes.
	TypeSchema = params.Schema
	// Schemas holds the schema of every type Load and Validate accept.
	Schemas = params.Registry
)

// The kinds, under their configs names.
const (
	KindString   = params.KindString
	KindInt      = params.KindInt
	KindBool     = params.KindBool
	KindDuration = params.KindDuration
	KindCIDR     = params.KindCIDR
	KindHostPort = params.KindHostPort
	KindIP       = params.KindIP
	KindList     = params.KindList
	KindMap      = params.KindMap
)

// Common keys every block of a kind takes besides its type-specific ones.
func resourceCommonKeys() []string {
	return []string{"start_timeout", "stop_timeout", "monitor_timeout", "monitor_interval", "on_fail"}
}
func fenceCommonKeys() []string { return []string{"timeout", "retries", "monitor_interval", "action"} }
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
