package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	text := applyEdits(t, validConfig, []edit{
		{`bind            = "198.18.0.11:7300"`, `bind            = "10.0.0.1"`},
		{`fence_delay     = "1s"`, `fence_delay     = "soon"`},
		{`prefer              = "lb1"`, `prefer              = "lb9"`},
		{`then  = "web"`, `then  = "nope"`},
		{`unit = "postgresql.service"`, `unit = "postgresql.service"` + "\n    units = 1"},
	})
	path := setup(t, text)
	chmod(t, filepath.Dir(path), "gossip.key", 0o644)
	_, err := loadBuiltin(path)
	ds := diagsOf(t, err)
	want := []struct {
		key  string
		line int
	}{
		{"cluster.bind", lineOf(t, text, `"10.0.0.1"`)},
		{"cluster.gossip_key_file", lineOf(t, text, `gossip_key_file`)},
		{"node.lb1.fence_delay", lineOf(t, text, `"soon"`)},
		{"group.db.resource.postgres", lineOf(t, text, `units = 1`)},
		{"group.web.prefer", lineOf(t, text, `"lb9"`)},
		{"order[0].then", lineOf(t, text, `"nope"`)},
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%v", len(ds), len(want), err)
	}
	for i, w := range want { // sorted by position
		if ds[i].Key != w.key || ds[i].Line != w.line || ds[i].File != path {
			t.Errorf("diagnostic %d = %v, want key %s at line %d", i, ds[i], w.key, w.line)
		}
	}
	// The CLI prints err as is: one "file:line:col: key: message" per line.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("Error() has %d lines, want %d", len(lines), len(want))
	}
	wantFirst := fmt.Sprintf(`%s:%d:3: cluster.bind: "10.0.0.1" is not host:port`, path, want[0].line)
	if lines[0] != wantFirst {
		t.Errorf("first line = %q, want %q", lines[0], wantFirst)
	}
}

// splitConfig spreads validConfig over files the way an operator would: a
// shared cluster file, a per-node file, and one file of groups.
func splitConfig(t *testing.T, dir string) {
	t.Helper()
	text := validConfig
	cut := func(from, to string) string {
		i, j := strings.Index(text, from), strings.Index(text, to)
		if i < 0 || j < 0 {
			t.Fatalf("cannot split at %q..%q", from, to)
		}
		return text[i:j]
	}
	top := cut("node_name", "cluster {")
	cluster := cut("cluster {", `node "lb1"`)
	nodes := cut(`node "lb1"`, `group "db"`)
	groups := text[strings.Index(text, `group "db"`):]
	// Local part of the cluster block goes to the node's own file.
	local := "cluster {\n  bind      = \"198.18.0.11:7300\"\n  heartbeat = \"198.18.1.11:7301\"\n}\n"
	cluster = strings.Replace(cluster, "  bind            = \"198.18.0.11:7300\"\n  heartbeat       = \"198.18.1.11:7301\"\n", "", 1)
	writeFile(t, dir, "00-cluster.hcl", cluster+nodes, 0o644)
	writeFile(t, dir, "10-local.hcl", top+local, 0o644)
	writeFile(t, dir, "20-groups.hcl", groups, 0o644)
	writeFile(t, dir, "README.txt", "not a config file {", 0o644)
}

func TestLoadDirectoryMergesFiles(t *testing.T) {
	dir := t.TempDir()
	writeSecrets(t, dir)
	splitConfig(t, dir)
	fromDir, err := loadBuiltin(dir)
	if err != nil {
		t.Fatalf("Load(dir): %v", err)
	}
	single := filepath.Join(dir, "single")
	if err := os.Mkdir(single, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSecrets(t, single)
	fromFile, err := loadBuiltin(writeFile(t, single, "vigil.hcl", validConfig, 0o644))
	if err != nil {
		t.Fatalf("Load(file): %v", err)
	}
	// Same config apart from where the secret files live and their content.
	fromFile.Cluster.GossipKey = fromDir.Cluster.GossipKey
	fromFile.Cluster.TLS = fromDir.Cluster.TLS
	for i := range fromFile.Fences {
		if p, ok := fromFile.Fences[i].Params["password_file"]; ok {
			fromFile.Fences[i].Params["password_file"] = filepath.Join(dir, filepath.Base(p))
		}
	}
	if !reflect.DeepEqual(fromDir, fromFile) {
		t.Errorf("directory config differs from single-file config:\n dir:  %+v\n file: %+v", fromDir, fromFile)
	}
}

func TestLoadDirectoryDuplicateKeyNamesBothFiles(t *testing.T) {
	dir := t.TempDir()
	writeSecrets(t, dir)
	splitConfig(t, dir)
	// node_name again, and the bind address again inside another cluster block.
	extra := writeFile(t, dir, "30-extra.hcl", "node_name = \"lb2\"\n\ncluster {\n  bind = \"198.18.0.12:7300\"\n}\n", 0o644)
	_, err := loadBuiltin(dir)
	ds := diagsOf(t, err)
	local := filepath.Join(dir, "10-local.hcl")
	want := map[string]string{
		"node_name":    fmt.Sprintf("set twice; it is already set at %s:1:1", local),
		"cluster.bind": fmt.Sprintf("set twice; it is already set at %s:7:3", local),
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%v", len(ds), len(want), err)
	}
	for _, d := range ds {
		if d.File != extra || want[d.Key] != d.Msg {
			t.Errorf("unexpected diagnostic %v", d)
		}
	}
}

func TestLoadPathProblems(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct{ path, msg string }{
		{filepath.Join(empty, "missing.hcl"), "no such file or directory"},
		{empty, "no *.hcl files in directory"},
	} {
		_, err := loadBuiltin(tc.path)
		ds := diagsOf(t, err)
		if len(ds) != 1 || ds[0].File != tc.path || !strings.Contains(ds[0].Msg, tc.msg) {
			t.Errorf("Load(%s) = %v, want one diagnostic containing %q", tc.path, err, tc.msg)
		}
	}
}

func TestLoadNearlyEmptyFileGivesShortAnswer(t *testing.T) {
	path := writeFile(t, t.TempDir(), "vigil.hcl", "node_name = \"a\"\n", 0o644)
	_, err := loadBuiltin(path)
	ds := diagsOf(t, err)
	want := []string{
		path + `: data_dir: is required (e.g. "/var/lib/vigil")`,
		path + ": cluster: a cluster block is required (name, gossip_key_file, tls; see docs/configuration.md)",
		path + ": node: at least one node block is required",
	}
	if got := strings.Split(ds.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
