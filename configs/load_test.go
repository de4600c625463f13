package configs

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestLoadFullConfigEveryFieldLands(t *testing.T) {
	path := setup(t, validConfig)
	dir := filepath.Dir(path)
	c, err := loadBuiltin(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("NodeName", c.NodeName, "lb1")
	check("DataDir", c.DataDir, "/var/lib/vigil")
	check("LogLevel", c.LogLevel, "debug")
	check("Maintenance", c.Maintenance, true)
	check("Dev", c.Dev, false)

	cl := c.Cluster
	check("Cluster.Name", cl.Name, "edge")
	check("Cluster.Bind", cl.Bind, "198.18.0.11:7300")
	check("Cluster.Heartbeat", cl.Heartbeat, "198.18.1.11:7301")
	check("len(GossipKey)", len(cl.GossipKey), 32)
	check("TLS", cl.TLS, TLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "node.pem"), KeyFile: filepath.Join(dir, "node-key.pem")})
	check("API", cl.API, API{Socket: "/run/vigil.sock", Address: "198.18.0.11:7400"})
	check("TwoNode", cl.TwoNode, false)
	wantTiming, _ := TimingPreset("fast")
	wantTiming.ProbeInterval = 300 * time.Millisecond
	wantTiming.SuspicionMult = 3
	check("Timing", cl.Timing, wantTiming)

	check("Nodes", c.Nodes, []Node{
		{Name: "lb1", Address: "198.18.0.11:7300", Heartbeat: "198.18.1.11:7301",
			Fence:      []FenceLevel{{Devices: []string{"lb1-bmc"}}, {Devices: []string{"lb1-ec2"}}},
			FenceDelay: time.Second, FenceDelayMax: 2 * time.Second},
		{Name: "lb2", Address: "198.18.0.12:7300", Heartbeat: "198.18.1.12:7301",
			Fence: []FenceLevel{{Devices: []string{"lb2-bmc"}}, {Devices: []string{"lb2-ec2", "lb2-exec"}}}},
		{Name: "witness", Address: "198.18.0.13:7300", Heartbeat: "198.18.1.13:7301", Witness: true},
	})
	check("Local", c.Local().Name, "lb1")

	check("Fences", c.Fences, []Fence{
		{Type: "ipmi", Name: "lb1-bmc", Timeout: 20 * time.Second, Retries: 3, MonitorInterval: time.Minute,
			Params: map[string]string{"host": "198.18.1.201", "port": "623", "username": "admin",
				"password_file": filepath.Join(dir, "lb1.ipmi"), "cipher_suite": "17"},
			Secrets: map[string][]byte{"password": []byte("s3cret")}, Action: "reboot"},
		{Type: "aws", Name: "lb1-ec2", Timeout: 30 * time.Second, Retries: 2, MonitorInterval: time.Minute, Action: "off",
			Params: map[string]string{"instance_id": "i-0abc", "region": "eu-west-1"}},
		{Type: "ipmi", Name: "lb2-bmc", Timeout: 30 * time.Second, Retries: 2, MonitorInterval: time.Minute, Action: "off",
			Params:  map[string]string{"host": "198.18.1.202", "username": "admin", "password_file": filepath.Join(dir, "lb2.ipmi")},
			Secrets: map[string][]byte{"password": []byte("other")}},
		{Type: "aws", Name: "lb2-ec2", Timeout: 30 * time.Second, Retries: 2, MonitorInterval: time.Minute, Action: "off",
			Params: map[string]string{"instance_id": "i-0def"}},
		{Type: "exec", Name: "lb2-exec", Timeout: 30 * time.Second, Retries: 2, MonitorInterval: time.Minute, Action: "off",
			Params: map[string]string{"agent": "fence_ipmilan", "params.ip": "198.18.1.202", "params.lanplus": "1"}},
	})

	defRes := func(r Resource) Resource {
		r.StartTimeout, r.StopTimeout, r.MonitorTimeout = 20*time.Second, 20*time.Second, 20*time.Second
		r.MonitorInterval, r.OnFail = 10*time.Second, "restart"
		return r
	}
	check("Groups", c.Groups, []Group{
		{Name: "db", MigrationThreshold: 3, MinMoveInterval: 60 * time.Second,
			Resources: []Resource{defRes(Resource{Type: "systemd", Name: "postgres", Params: map[string]string{"unit": "postgresql.service"}})}},
		{Name: "web", Prefer: "lb1", Failback: true, MigrationThreshold: 5, FailureTimeout: 10 * time.Minute,
			MinMoveInterval: 30 * time.Second,
			Resources: []Resource{
				{Type: "ipaddr", Name: "vip", StartTimeout: 5 * time.Second, StopTimeout: 6 * time.Second,
					MonitorTimeout: 7 * time.Second, MonitorInterval: 2 * time.Second, OnFail: "fence",
					Params: map[string]string{"address": "198.18.0.100/24", "interface": "eth0", "garp_count": "5", "garp_interval": "200ms"}},
				defRes(Resource{Type: "ocf", Name: "www", Params: map[string]string{"agent": "heartbeat:apache", "params.configfile": "/etc/apache2/apache2.conf"}}),
				defRes(Resource{Type: "exec", Name: "hook", Params: map[string]string{"start": "true", "stop": "true", "status": "true", "env.FOO": "bar"}}),
				defRes(Resource{Type: "awsroute", Name: "rt", Params: map[string]string{"route_tables": "rtb-1,rtb-2", "destination": "198.19.0.0/16"}}),
			},
			Checks: []Check{{Type: "http", Name: "site", Group: "web", Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 1, Fall: 4,
				Params: map[string]string{"url": "http://127.0.0.1/health", "method": "GET", "expect_status": "200-399", "tls_verify": "true"}}},
		},
	})
	check("Checks", c.Checks, []Check{{Type: "exec", Name: "node-ok", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
		Params: map[string]string{"command": "true"}}})
	check("Orders", c.Orders, []Order{{First: "db", Then: "web"}})
	check("Colocations", c.Colocations, []Colocation{{Group: "web", With: "db", Apart: true}})
}

func TestLoadDefaults(t *testing.T) {
	// The smallest real cluster: two nodes + witness, sharing one file.
	text := `node_name = "b"
data_dir  = "data"
cluster {
  name            = "c"
  gossip_key_file = "gossip.key"
  tls {
    ca_file   = "ca.pem"
    cert_file = "node.pem"
    key_file  = "node-key.pem"
  }
}
node "a" {
  address   = "198.18.0.1:7300"
  heartbeat = "198.18.1.1:7301"
}
node "b" {
  address   = "198.18.0.2:7300"
  heartbeat = "198.18.1.2:7301"
}
node "w" {
  address   = "198.18.0.3:7300"
  heartbeat = "198.18.1.3:7301"
  witness   = true
}
`
	path := setup(t, text)
	c, err := loadBuiltin(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir := filepath.Dir(path)
	if c.LogLevel != "info" {
		t.Errorf("LogLevel = %q, want info", c.LogLevel)
	}
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("relative data_dir = %q, want it next to the file", c.DataDir)
	}
	if c.Cluster.Bind != "198.18.0.2:7300" || c.Cluster.Heartbeat != "198.18.1.2:7301" {
		t.Errorf("bind/heartbeat = %q/%q, want node b's addresses", c.Cluster.Bind, c.Cluster.Heartbeat)
	}
	if c.Cluster.API.Socket != filepath.Join(dir, "data", "vigil.sock") {
		t.Errorf("API socket = %q, want <data_dir>/vigil.sock", c.Cluster.API.Socket)
	}
	lan, _ := TimingPreset("lan")
	if c.Cluster.Timing != lan {
		t.Errorf("timing = %+v, want lan preset", c.Cluster.Timing)
	}
}

// BenchmarkLoad measures loading and validating the full example config,
// TLS and secret checks included (the agent does this once at start-up).
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	writeSecrets(b, dir)
	path := writeFile(b, dir, "vigil.hcl", validConfig, 0o644)
	for b.Loop() {
		if _, err := loadBuiltin(path); err != nil {
			b.Fatal(err)
		}
	}
}
