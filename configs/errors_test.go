package configs

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// edit is one textual change to validConfig.
type edit struct{ old, new string }

func applyEdits(t *testing.T, text string, edits []edit) string {
	t.Helper()
	for _, e := range edits {
		if !strings.Contains(text, e.old) {
			t.Fatalf("edit target %q not in config", e.old)
		}
		text = strings.Replace(text, e.old, e.new, 1)
	}
	return text
}

func TestLoadReportsEachProblemAtItsKey(t *testing.T) {
	witnessBlock := "node \"witness\" {\n  address   = \"198.18.0.13:7300\"\n  heartbeat = \"198.18.1.13:7301\"\n  witness   = true\n}\n"
	cases := []struct {
		name  string
		edits []edit
		prep  func(t *testing.T, dir string)
		key   string
		at    string // the diagnostic is on the line containing this (last occurrence if last)
		last  bool
		msg   string
	}{
		{name: "bad host:port", edits: []edit{{`bind            = "198.18.0.11:7300"`, `bind            = "10.0.0.1"`}},
			key: "cluster.bind", at: `bind            = "10.0.0.1"`, msg: `"10.0.0.1" is not host:port`},
		{name: "bad port", edits: []edit{{`address   = "198.18.0.12:7300"`, `address   = "198.18.0.12:99999"`}},
			key: "node.lb2.address", at: `198.18.0.12:99999`, msg: "port must be 1-65535"},
		{name: "bad duration", edits: []edit{{`fence_delay     = "1s"`, `fence_delay     = "1 sec"`}},
			key: "node.lb1.fence_delay", at: `"1 sec"`, msg: `"1 sec" is not a duration`},
		{name: "bad CIDR", edits: []edit{{`address          = "198.18.0.100/24"`, `address          = "198.18.0.100"`}},
			key: "group.web.resource.vip.address", at: `"198.18.0.100"`, msg: "is not an address with prefix length"},
		{name: "bad integer", edits: []edit{{`retries       = 3`, `retries       = "three"`}},
			key: "fence.lb1-bmc.retries", at: `"three"`, msg: `"three" is not an integer`},
		{name: "not a list", edits: []edit{{`fence           = ["lb1-bmc", "lb1-ec2"]`, `fence           = "lb1-bmc"`}},
			key: "node.lb1.fence", at: `fence           = "lb1-bmc"`, msg: "must be a list"},
		{name: "unknown key", edits: []edit{{`  timing          = "fast"`, "  timing          = \"fast\"\n  bindd = \"x\""}},
			key: "cluster", at: `bindd`, msg: `An argument named "bindd" is not expected here`},
		{name: "unknown type-specific key", edits: []edit{{`unit = "postgresql.service"`, "unit = \"postgresql.service\"\n    units = 1"}},
			key: "group.db.resource.postgres", at: `units = 1`, msg: `"units" is not expected`},
		{name: "unknown block", edits: []edit{{`check "exec" "node-ok" {`, "frobnicate {\n}\ncheck \"exec\" \"node-ok\" {"}},
			key: "", at: `frobnicate`, msg: `Blocks of type "frobnicate" are not expected here`},
		{name: "unknown tuning key", edits: []edit{{`suspicion_mult = 3`, "suspicion_mult = 3\n    lease_time = \"1s\""}},
			key: "cluster.tuning", at: `lease_time`, msg: `"lease_time" is not expected`},
		{name: "duplicate node", edits: []edit{{`node "lb2" {`, `node "lb1" {`}},
			key: "node.lb1", at: `node "lb1" {`, last: true, msg: "defined twice; first defined at"},
		{name: "duplicate address", edits: []edit{{`heartbeat = "198.18.1.12:7301"`, `heartbeat = "198.18.1.11:7301"`}},
			key: "node.lb2.heartbeat", at: `heartbeat = "198.18.1.11:7301"`, msg: "198.18.1.11:7301 is already used by node.lb1.heartbeat"},
		{name: "address reused as heartbeat", edits: []edit{{`heartbeat = "198.18.1.13:7301"`, `heartbeat = "198.18.0.12:7300"`}},
			key: "node.witness.heartbeat", at: `heartbeat = "198.18.0.12:7300"`, msg: "is already used by node.lb2.address"},
		{name: "duplicate group", edits: []edit{{`check "exec" "node-ok" {`, "group \"db\" {\n}\ncheck \"exec\" \"node-ok\" {"}},
			key: "group.db", at: `group "db" {`, last: true, msg: "defined twice"},
		{name: "duplicate resource", edits: []edit{{`resource "exec" "hook" {`, `resource "exec" "postgres" {`}},
			key: "group.web.resource.postgres", at: `resource "exec" "postgres"`, msg: "already used by group.db.resource.postgres"},
		{name: "duplicate fence", edits: []edit{{`group "db" {`, "fence \"aws\" \"lb1-ec2\" {\n  instance_id = \"i-1\"\n}\ngroup \"db\" {"}},
			key: "fence.lb1-ec2", at: `fence "aws" "lb1-ec2" {`, last: true, msg: "defined twice"},
		{name: "duplicate check", edits: []edit{{`check "exec" "node-ok" {`, `check "exec" "site" {`}, {`check "http" "site" {`, "check \"tcp\" \"site\" {\n    address = \"127.0.0.1:80\"\n  }\n  check \"http\" \"site\" {"}},
			key: "group.web.check.site", at: `check "http" "site" {`, msg: "defined twice"},
		{name: "node_name not a node", edits: []edit{{`node_name   = "lb1"`, `node_name   = "lb9"`}},
			key: "node_name", at: `node_name`, msg: `"lb9" is not one of the nodes (lb1, lb2, witness)`},
		{name: "even voters", edits: []edit{{witnessBlock, ""}},
			key: "node", at: `node "lb1" {`, msg: "raft needs a majority"},
		{name: "two_node needs two", edits: []edit{{`  timing          = "fast"`, "  timing          = \"fast\"\n  two_node = true"}},
			key: "cluster.two_node", at: `two_node = true`, msg: "needs exactly 2 nodes, found 3"},
		{name: "unknown fence device", edits: []edit{{`fence           = ["lb1-bmc", "lb1-ec2"]`, `fence           = ["lb1-bmc", "nope"]`}},
			key: "node.lb1.fence", at: `"nope"`, msg: `no fence device named "nope"`},
		{name: "unknown fence device in level", edits: []edit{{`devices = ["lb2-ec2", "lb2-exec"]`, `devices = ["lb2-ec2", "nope"]`}},
			key: "node.lb2.fence_level[1]", at: `fence_level {`, last: true, msg: `no fence device named "nope"`},
		{name: "fence list and levels", edits: []edit{{`heartbeat = "198.18.1.12:7301"`, "heartbeat = \"198.18.1.12:7301\"\n  fence = [\"lb2-bmc\"]"}},
			key: "node.lb2.fence_level[0]", at: `fence_level {`, msg: "not both"},
		{name: "prefer unknown node", edits: []edit{{`prefer              = "lb1"`, `prefer              = "lb9"`}},
			key: "group.web.prefer", at: `prefer`, msg: `no node named "lb9"`},
		{name: "prefer witness", edits: []edit{{`prefer              = "lb1"`, `prefer              = "witness"`}},
			key: "group.web.prefer", at: `prefer`, msg: "is a witness node"},
		{name: "order unknown group", edits: []edit{{`then  = "web"`, `then  = "nope"`}},
			key: "order[0].then", at: `then  = "nope"`, msg: `no group named "nope"`},
		{name: "colocate unknown group", edits: []edit{{`with  = "db"`, `with  = "nope"`}},
			key: "colocate[0].with", at: `with  = "nope"`, msg: `no group named "nope"`},
		{name: "order cycle", edits: []edit{{"colocate {", "order {\n  first = \"web\"\n  then  = \"db\"\n}\ncolocate {"}},
			key: "order", at: `order {`, msg: "cycle: db -> web -> db"},
		{name: "unknown resource type", edits: []edit{{`resource "ocf" "www" {`, `resource "ocff" "www" {`}},
			key: "group.web.resource.www", at: `"ocff"`, msg: `unknown resource type "ocff" (known types: awseip, awsip, awsroute, ebs, exec, ipaddr, ocf, systemd)`},
		{name: "unknown fence type", edits: []edit{{`fence "aws" "lb2-ec2" {`, `fence "gce" "lb2-ec2" {`}},
			key: "fence.lb2-ec2", at: `fence "gce"`, msg: `unknown fence type "gce"`},
		{name: "unknown check type", edits: []edit{{`check "exec" "node-ok" {`, `check "icmp" "node-ok" {`}},
			key: "check.node-ok", at: `check "icmp"`, msg: `unknown check type "icmp"`},
		{name: "missing required key", edits: []edit{{"    interface        = \"eth0\"\n", ""}},
			key: "group.web.resource.vip", at: `resource "ipaddr" "vip"`, msg: `missing required key "interface"`},
		{name: "missing required fence key", edits: []edit{{"  instance_id = \"i-0def\"\n", ""}},
			key: "fence.lb2-ec2", at: `fence "aws" "lb2-ec2"`, msg: `missing required key "instance_id"`},
		{name: "ocf agent format", edits: []edit{{`agent  = "heartbeat:apache"`, `agent  = "apache"`}},
			key: "group.web.resource.www.agent", at: `agent  = "apache"`, msg: "is not provider:type"},
		{name: "bad on_fail", edits: []edit{{`on_fail          = "fence"`, `on_fail          = "panic"`}},
			key: "group.web.resource.vip.on_fail", at: `"panic"`, msg: `unknown on_fail "panic"`},
		{name: "bad tcp address", edits: []edit{{`command = "true"`, "command = \"true\"\n}\ncheck \"tcp\" \"port\" {\n  address = \"127.0.0.1\""}},
			key: "check.port.address", at: `address = "127.0.0.1"`, msg: "is not host:port"},
		{name: "check timeout above interval", edits: []edit{{`timeout  = "500ms"`, `timeout  = "5s"`}},
			key: "group.web.check.site.timeout", at: `timeout  = "5s"`, msg: "must not exceed interval"},
		{name: "bad url", edits: []edit{{`url      = "http://127.0.0.1/health"`, `url      = "127.0.0.1/health"`}},
			key: "group.web.check.site.url", at: `url`, msg: "is not an http:// or https:// URL"},
		{name: "bad expect_status", edits: []edit{{`fall     = 4`, "fall     = 4\n    expect_status = \"2xx\""}},
			key: "group.web.check.site.expect_status", at: `"2xx"`, msg: "is not a status list"},
		{name: "comma in list element", edits: []edit{{`route_tables = ["rtb-1", "rtb-2"]`, `route_tables = ["rtb-1,rtb-2"]`}},
			key: "group.web.resource.rt.route_tables", at: `route_tables`, msg: "must not contain a comma"},
		{name: "map expected", edits: []edit{{`env    = { FOO = "bar" }`, `env    = "FOO=bar"`}},
			key: "group.web.resource.hook.env", at: `env    =`, msg: "must be a map"},
		{name: "unknown fence action", edits: []edit{{`action        = "reboot"`, `action        = "cycle"`}},
			key: "fence.lb1-bmc.action", at: `"cycle"`, msg: `unknown fence action "cycle" (use "off" or "reboot")`},
		{name: "unknown timing", edits: []edit{{`timing          = "fast"`, `timing          = "ludicrous"`}},
			key: "cluster.timing", at: `"ludicrous"`, msg: `unknown timing "ludicrous" (use fast, lan or wan)`},
		{name: "leader lease above heartbeat", edits: []edit{{`suspicion_mult = 3`, "suspicion_mult = 3\n    raft_leader_lease = \"250ms\""}},
			key: "cluster.tuning.raft_leader_lease", at: `raft_leader_lease`, msg: "no other leader may be elected before a leader's lease ends"},
		{name: "election below heartbeat", edits: []edit{{`suspicion_mult = 3`, "suspicion_mult = 3\n    raft_election_timeout = \"50ms\""}},
			key: "cluster.tuning.raft_election_timeout", at: `raft_election_timeout`, msg: "election timeout >= heartbeat timeout"},
		{name: "lease shorter than an election", edits: []edit{{`suspicion_mult = 3`, "suspicion_mult = 3\n    lease = \"150ms\""}},
			key: "cluster.tuning.lease", at: `lease = "150ms"`, msg: "lease (150ms) must be at least twice raft_heartbeat_timeout (100ms)"},
		{name: "raft timeout floor", edits: []edit{{`suspicion_mult = 3`, "suspicion_mult = 3\n    raft_commit_timeout = \"1ms\""}},
			key: "cluster.tuning.raft_commit_timeout", at: `raft_commit_timeout`, msg: "must be at least 5ms"},
		{name: "gossip key too open", prep: func(t *testing.T, dir string) { chmod(t, dir, "gossip.key", 0o644) },
			key: "cluster.gossip_key_file", at: `gossip_key_file`, msg: "permissions 0644 for '%DIR%/gossip.key' are too open; it must not be accessible by group or others (chmod 600)"},
		{name: "tls key group readable", prep: func(t *testing.T, dir string) { chmod(t, dir, "node-key.pem", 0o640) },
			key: "cluster.tls.key_file", at: `key_file  =`, msg: "permissions 0640 for '%DIR%/node-key.pem' are too open"},
		{name: "ipmi password world readable", prep: func(t *testing.T, dir string) { chmod(t, dir, "lb1.ipmi", 0o604) },
			key: "fence.lb1-bmc.password_file", at: `password_file = "lb1.ipmi"`, msg: "permissions 0604"},
		{name: "gossip key not base64", prep: func(t *testing.T, dir string) { writeFile(t, dir, "gossip.key", "not base64!!", 0o600) },
			key: "cluster.gossip_key_file", at: `gossip_key_file`, msg: "is not base64"},
		{name: "gossip key wrong length", prep: func(t *testing.T, dir string) {
			writeFile(t, dir, "gossip.key", base64.StdEncoding.EncodeToString(make([]byte, 10)), 0o600)
		}, key: "cluster.gossip_key_file", at: `gossip_key_file`, msg: "decodes to 10 bytes; a gossip key must be 16, 24 or 32 bytes"},
		{name: "missing file", edits: []edit{{`ca_file   = "ca.pem"`, `ca_file   = "nope.pem"`}},
			key: "cluster.tls.ca_file", at: `nope.pem`, msg: "cannot read '%DIR%/nope.pem': no such file or directory"},
		{name: "missing password file", edits: []edit{{`password_file = "lb2.ipmi"`, `password_file = "/nonexistent/lb2.ipmi"`}},
			key: "fence.lb2-bmc.password_file", at: `/nonexistent/lb2.ipmi`, msg: "cannot read '/nonexistent/lb2.ipmi'"},
		{name: "cert and key mismatch", prep: func(t *testing.T, dir string) {
			_, cert, _ := makeCerts(t)
			writeFile(t, dir, "node.pem", cert, 0o644)
		}, key: "cluster.tls.cert_file", at: `cert_file`, msg: "private key does not match public key"},
		{name: "gossip key required", edits: []edit{{"  gossip_key_file = \"gossip.key\"\n", ""}},
			key: "cluster.gossip_key_file", at: `cluster {`, msg: "is required: the heartbeat link must be encrypted"},
		{name: "tls required", edits: []edit{{"    cert_file = \"node.pem\"\n", ""}},
			key: "cluster.tls", at: `tls {`, msg: "cert_file is required"},
		{name: "bad log level", edits: []edit{{`log_level   = "debug"`, `log_level   = "loud"`}},
			key: "log_level", at: `log_level`, msg: `unknown log level "loud"`},
		{name: "bad name", edits: []edit{{`group "db" {`, `group "d b" {`}, {`first = "db"`, `first = "d b"`}, {`with  = "db"`, `with  = "d b"`}},
			key: "group.d b", at: `group "d b"`, msg: "must start with a letter or digit"},
		{name: "syntax error", edits: []edit{{`log_level   = "debug"`, `log_level   = "debug`}},
			key: "", at: `log_level`, msg: "Quoted strings may not be split over multiple lines"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := applyEdits(t, validConfig, tc.edits)
			path := setup(t, text)
			dir := filepath.Dir(path)
			if tc.prep != nil {
				tc.prep(t, dir)
			}
			_, err := loadBuiltin(path)
			if err == nil {
				t.Fatal("Load accepted the config")
			}
			ds := diagsOf(t, err)
			want := strings.ReplaceAll(tc.msg, "%DIR%", dir)
			line := lineOf(t, text, tc.at)
			if tc.last {
				line = lastLineOf(t, text, tc.at)
			}
			if len(ds) != 1 {
				t.Errorf("got %d diagnostics, want 1:\n%v", len(ds), err)
			}
			for _, d := range ds {
				if d.Key == tc.key && strings.Contains(d.Msg, want) {
					if d.File != path || d.Line != line {
						t.Errorf("diagnostic at %s:%d, want %s:%d: %v", d.File, d.Line, path, line, d)
					}
					return
				}
			}
			t.Errorf("no diagnostic with key %q and message containing %q; got:\n%v", tc.key, want, err)
		})
	}
}

func chmod(t *testing.T, dir, name string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
		t.Fatal(err)
	}
}

func lastLineOf(t *testing.T, text, sub string) int {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not in config", sub)
	return 0
}
