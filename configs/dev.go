package configs

import (
	"path/filepath"
	"strings"
)

// Addresses the -dev agent listens on unless the caller asks for others.
const (
	DevBind      = "127.0.0.1:7300" // raft + forwarded API
	DevHeartbeat = "127.0.0.1:7301" // memberlist
)

// Dev returns the configuration of `vigil agent -dev`: one node "dev" on
// loopback with the fast timing preset, no TLS or gossip key, and a "demo"
// group whose exec resource "hello" creates and removes a marker file under
// dataDir, so a newcomer sees a group start without touching the system.
func Dev(dataDir string) *Config { return DevAt(dataDir, DevBind, DevHeartbeat) }

// DevAt is Dev with other raft (bind) and heartbeat addresses, e.g. to run
// two dev agents side by side or to avoid a port in use.
func DevAt(dataDir, bind, heartbeat string) *Config {
	t, _ := TimingPreset("fast")
	marker := shellQuote(filepath.Join(dataDir, "demo-hello.started"))
	res := Resource{
		Type: "exec",
		Name: "hello",
		Params: map[string]string{
			"start": "touch " + marker,
			"stop":  "rm -f " + marker,
			// The exec agent follows LSB: 3 means cleanly stopped, any
			// other non-zero exit would count as a failure.
			"status": "test -f " + marker + " || exit 3",
		},
		OnFail: defaultOnFail,
	}
	res.StartTimeout, _ = parseDuration(defaultOpTimeout)
	res.StopTimeout, _ = parseDuration(defaultOpTimeout)
	res.MonitorTimeout, _ = parseDuration(defaultOpTimeout)
	res.MonitorInterval, _ = parseDuration("2s") // quicker than the default so the demo reacts visibly

	g := Group{Name: "demo", MigrationThreshold: defaultMigrationThreshold, Resources: []Resource{res}}
	g.MinMoveInterval, _ = parseDuration(defaultMinMoveInterval)

	return &Config{
		NodeName: "dev",
		DataDir:  dataDir,
		LogLevel: defaultLogLevel,
		Dev:      true,
		Cluster: Cluster{
			Name:      "dev",
			Bind:      bind,
			Heartbeat: heartbeat,
			Timing:    t,
			API:       API{Socket: filepath.Join(dataDir, defaultSocketName)},
		},
		Nodes:  []Node{{Name: "dev", Address: bind, Heartbeat: heartbeat}},
		Groups: []Group{g},
	}
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
