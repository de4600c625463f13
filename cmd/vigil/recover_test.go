package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/vigil-ha/vigil/cluster/consensus"
	"github.com/vigil-ha/vigil/cluster/state"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// `vigil recover` on n1 of n1, n2 and the witness w: refused without
// -voters, for a majority and while the stores are held; does nothing
// unless the removed names are typed back; with them, n1 is the only voter
// stored, and a note is left for the agent's history.
func TestRecoverRewritesTheStoredVoters(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, err := tlsutil.CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := tlsutil.CreateCert(ca, caKey, dir, "n1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	cfg := secConfig(t, dir, ca, cert, key, dataDir, extraNodes)
	bootstrap(t, dataDir, "n1", "n1", "n2", "w")
	// The same node with a data_dir that holds no raft state.
	emptyDir := filepath.Join(dir, "empty")
	if err := os.MkdirAll(emptyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	wrongCfg := secConfig(t, emptyDir, ca, cert, key, filepath.Join(emptyDir, "data"), extraNodes)

	run := func(input string, args ...string) (int, string) {
		t.Helper()
		ui := cli.NewMockUi()
		ui.InputReader = strings.NewReader(input)
		code := (&recoverCmd{ui: ui}).Run(args)
		return code, ui.OutputWriter.String() + ui.ErrorWriter.String()
	}
	for _, c := range []struct {
		input string
		args  []string
		want  string
	}{
		{"", []string{"-config", cfg}, "-config and -voters are required"},
		{"", []string{"-config", cfg, "-voters", "n1", "extra"}, "vigil recover"},
		{"", []string{"-config", filepath.Join(dir, "none.hcl"), "-voters", "n1"}, "none.hcl"},
		{"", []string{"-config", cfg, "-voters", "n1,w"}, "majority"},
		{"", []string{"-config", cfg, "-voters", "n2"}, "this node (n1)"},
		{"n2\n", []string{"-config", cfg, "-voters", "n1"}, "not confirmed; nothing changed"},
		{"", []string{"-config", wrongCfg, "-voters", "n1"}, "no raft state at"},
	} {
		if code, out := run(c.input, c.args...); code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("recover %v: exit %d, want 1 saying %q:\n%s", c.args, code, c.want, out)
		}
	}
	// A wrong data_dir is no running agent: no hint to stop one.
	if _, out := run("", "-config", wrongCfg, "-voters", "n1"); strings.Contains(out, "stop this node's agent") {
		t.Errorf("recover with an empty data_dir hints at a running agent:\n%s", out)
	}
	if v := storedVoters(t, dataDir); !slices.Equal(v, []string{"n1", "n2", "w"}) {
		t.Fatalf("voters after the refusals: %v, want all three", v)
	}

	held, err := consensus.OpenOffline(consensus.Config{NodeID: "n1", DataDir: dataDir, ScratchFSM: state.ScratchFSM})
	if err != nil {
		t.Fatal(err)
	}
	if code, out := run("n2,w\n", "-config", cfg, "-voters", "n1"); code != 1 || !strings.Contains(out, "stop this node's agent first") {
		t.Errorf("recover with the stores held: exit %d:\n%s", code, out)
	}
	_ = held.Close()

	code, out := run("n2, w\n", "-config", cfg, "-voters", "n1")
	if code != 0 || !strings.Contains(out, "keeps n1; removes n2, w") || !strings.Contains(out, "voters n1.") ||
		!strings.Contains(out, "empty their data_dir") {
		t.Fatalf("recover: exit %d:\n%s", code, out)
	}
	if v := storedVoters(t, dataDir); !slices.Equal(v, []string{"n1"}) {
		t.Fatalf("voters after the recovery: %v, want n1 alone", v)
	}
	// Left for the agent to record in the history.
	note, err := consensus.PendingRecovery(dataDir)
	if err != nil || note == nil || !slices.Equal(note.Voters, []string{"n1"}) || !slices.Equal(note.Removed, []string{"n2", "w"}) {
		t.Fatalf("recovery note %+v, %v", note, err)
	}
}

// extraNodes are n2 and the witness w beside secConfig's n1.
const extraNodes = `
node "n2" {
  address   = "127.0.0.2:17300"
  heartbeat = "127.0.0.2:17301"
}
node "w" {
  address   = "127.0.0.3:17300"
  heartbeat = "127.0.0.3:17301"
  witness   = true
}
`

// bootstrap stores a first raft configuration of voters in dataDir, as an
// agent's first start does.
func bootstrap(t *testing.T, dataDir, self string, voters ...string) {
	t.Helper()
	dir := filepath.Join(dataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self)
	var conf raft.Configuration
	for _, v := range voters {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v), Address: raft.ServerAddress(v + ":7300")})
	}
	_, trans := raft.NewInmemTransport("")
	if err := raft.BootstrapCluster(rc, db, db, snaps, trans, conf); err != nil {
		t.Fatal(err)
	}
}

func storedVoters(t *testing.T, dataDir string) []string {
	t.Helper()
	off, err := consensus.OpenOffline(consensus.Config{NodeID: "n1", DataDir: dataDir, ScratchFSM: state.ScratchFSM})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	servers, err := off.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			out = append(out, string(s.ID))
		}
	}
	return out
}
