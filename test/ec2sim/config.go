package ec2sim

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Duration is a time.Duration that reads "250ms" style strings from JSON.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(n)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Config describes the simulated world. It is also the standalone config file format (JSON).
type Config struct {
	Region      string             `json:"region"`
	Listen      string             `json:"listen"` // standalone: EC2 API listen address
	Instances   []InstanceConfig   `json:"instances"`
	Addresses   []AddressConfig    `json:"addresses"`
	RouteTables []RouteTableConfig `json:"route_tables"`
	Volumes     []VolumeConfig     `json:"volumes"`
	Knobs       Knobs              `json:"knobs"`
	Hooks       HookConfig         `json:"hooks"`
}

// InstanceConfig is one instance. The first ENI is the primary (device index 0).
type InstanceConfig struct {
	ID         string            `json:"id"`
	AZ         string            `json:"az"`
	State      string            `json:"state"` // running (default) or stopped
	IMDSListen string            `json:"imds_listen"`
	Tags       map[string]string `json:"tags"`
	ENIs       []ENIConfig       `json:"enis"`
}

// ENIConfig is one network interface; the first private IP is its primary.
type ENIConfig struct {
	ID         string   `json:"id"`
	MAC        string   `json:"mac"`
	SubnetID   string   `json:"subnet_id"`
	VpcID      string   `json:"vpc_id"`
	PrivateIPs []string `json:"private_ips"`
}

// AddressConfig is one Elastic IP, optionally associated with an ENI at start.
type AddressConfig struct {
	AllocationID string `json:"allocation_id"`
	PublicIP     string `json:"public_ip"`
	ENI          string `json:"eni"`
	PrivateIP    string `json:"private_ip"`
}

// RouteTableConfig is one route table.
type RouteTableConfig struct {
	ID     string        `json:"id"`
	VpcID  string        `json:"vpc_id"`
	Routes []RouteConfig `json:"routes"`
}

// RouteConfig is one route; ENI empty means a local/gateway route.
type RouteConfig struct {
	Destination string `json:"destination"`
	ENI         string `json:"eni"`
	GatewayID   string `json:"gateway_id"`
}

// VolumeConfig is one EBS volume, optionally attached at start.
type VolumeConfig struct {
	ID         string `json:"id"`
	AZ         string `json:"az"`
	InstanceID string `json:"instance_id"`
	Device     string `json:"device"`
}

// HookConfig holds shell commands run (sh -c) on instance power transitions,
// with INSTANCE_ID and STATE in the environment. Used by standalone labs.
type HookConfig struct {
	OnStopped string `json:"on_stopped"`
	OnStarted string `json:"on_started"`
}

// Knobs are the fault and timing controls; all can be changed at runtime.
type Knobs struct {
	Latency        Duration `json:"latency"`          // added to every API call
	StopDelay      Duration `json:"stop_delay"`       // stopping -> stopped, graceful stop
	ForceStopDelay Duration `json:"force_stop_delay"` // stopping -> stopped with Force or SkipOsShutdown
	StartDelay     Duration `json:"start_delay"`      // pending -> running
	AttachDelay    Duration `json:"attach_delay"`     // attaching -> attached
	DetachDelay    Duration `json:"detach_delay"`     // detaching -> available
	// StuckStopping: "" (off), "graceful" (stopping never completes unless Force), "always".
	StuckStopping string `json:"stuck_stopping"`
	// ThrottleEvery makes every Nth API call fail with 503 RequestLimitExceeded (0 = off).
	ThrottleEvery int `json:"throttle_every"`
	// ThrottleRate limits calls per second (token bucket, burst = rate); excess gets 503 (0 = off).
	ThrottleRate float64 `json:"throttle_rate"`
	// StaleReads makes each Describe* action return the state from before the last
	// mutation for this many calls after it (eventual consistency; 0 = off).
	StaleReads int `json:"stale_reads"`
	// Errors injects an error for an action (key: action name, e.g. "StopInstances").
	Errors map[string]InjectedError `json:"errors"`
}

// InjectedError is returned instead of running the action.
type InjectedError struct {
	Code   string `json:"code"`   // e.g. "UnauthorizedOperation"
	Status int    `json:"status"` // HTTP status; 400 if 0
	Count  int    `json:"count"`  // times to fire; 0 = until cleared
}

// LoadConfig reads a JSON config file.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse config %s: %w", path, err)
	}
	return c, nil
}
