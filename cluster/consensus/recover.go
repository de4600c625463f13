package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Recovery from a lost majority. With most voters gone for good (two of
// three machines lost with their rack), the survivors can neither elect a
// leader nor commit, so no change can go through raft, not even one that
// removes the lost voters. An operator who has made sure that those are off
// and will not start again with their data rewrites the stored raft
// configuration of each survivor, its agent stopped, to the survivors alone
// (`vigil recover`; Consul's peers.json, etcd's --force-new-cluster):
// raft's RecoverCluster on the stores, as RecoverAlone does for a pair
// behind a confirmed fence. The safety of what follows rests on the
// operator's word: lost voters started again with their old data still
// make a majority of the old configuration among themselves.

// ErrRecover: a recovery was refused and nothing was changed.
var ErrRecover = errors.New("recovery refused")

// Offline is a node's raft stores, opened while its agent is stopped.
type Offline struct {
	cfg Config
	st  *stores
}

// OpenOffline opens the raft stores under cfg.DataDir (cfg needs NodeID,
// DataDir and ScratchFSM). It fails, naming the file, while an agent holds
// them.
func OpenOffline(cfg Config) (*Offline, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.NodeID == "" || cfg.DataDir == "" || cfg.InMem || cfg.ScratchFSM == nil {
		return nil, fmt.Errorf("%w: a node name, an on-disk data dir and a scratch FSM are needed", ErrRecover)
	}
	// Never create stores here: a wrong data_dir would look like a node
	// that has nothing.
	db := filepath.Join(cfg.DataDir, "raft", "raft.db")
	if _, err := os.Stat(db); err != nil {
		return nil, fmt.Errorf("%w: no raft state at %s (is data_dir right?): %v", ErrRecover, db, err)
	}
	st, err := openStores(&cfg, cfg.Logger, nil)
	if err != nil {
		return nil, err
	}
	has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
	if err == nil && !has {
		err = fmt.Errorf("%w: %s holds no raft state: nothing to recover", ErrRecover, db)
	}
	if err != nil {
		_ = st.close()
		return nil, err
	}
	return &Offline{cfg: cfg, st: st}, nil
}

// Close releases the stores.
func (o *Offline) Close() error { return o.st.close() }

// Servers is the stored configuration (the latest, committed or not), read
// by replaying the stored snapshot and log into a scratch FSM.
func (o *Offline) Servers() ([]raft.Server, error) {
	rc, trans, err := o.raftParts()
	if err != nil {
		return nil, err
	}
	conf, err := raft.GetConfiguration(rc, o.cfg.ScratchFSM(), o.st.logs, o.st.stable, o.st.snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("read the stored raft configuration: %w", err)
	}
	return conf.Servers, nil
}

// Recover rewrites the stored configuration to conf (PlanRecovery's),
// replaying the log into a scratch FSM to compact it into a snapshot that
// carries conf.
func (o *Offline) Recover(conf raft.Configuration) error {
	rc, trans, err := o.raftParts()
	if err != nil {
		return err
	}
	if err := raft.RecoverCluster(rc, o.cfg.ScratchFSM(), o.st.logs, o.st.stable, o.st.snaps, trans, conf); err != nil {
		return fmt.Errorf("rewrite the raft configuration: %w", err)
	}
	return nil
}

// RecoveryNote is what a recovery leaves for the agent to record in the
// replicated history once it runs (a recovery happens with raft stopped).
type RecoveryNote struct {
	Time    time.Time `json:"time"`
	Voters  []string  `json:"voters"`
	Removed []string  `json:"removed"`
}

func notePath(dataDir string) string { return filepath.Join(dataDir, "raft", "recovered.json") }

// WriteRecoveryNote leaves n in dataDir for the agent (PendingRecovery).
func WriteRecoveryNote(dataDir string, n RecoveryNote) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return os.WriteFile(notePath(dataDir), b, 0o600)
}

// PendingRecovery returns the note of a recovery not recorded yet, or nil.
func PendingRecovery(dataDir string) (*RecoveryNote, error) {
	b, err := os.ReadFile(notePath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var n RecoveryNote
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", notePath(dataDir), err)
	}
	return &n, nil
}

// RecoveryRecorded removes the note once its event is committed.
func RecoveryRecorded(dataDir string) error {
	if err := os.Remove(notePath(dataDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// raftParts are the raft config and a transport that sends nothing, which
// raft's offline functions need.
func (o *Offline) raftParts() (*raft.Config, raft.Transport, error) {
	rc, err := o.cfg.raftConfig(nil)
	if err != nil {
		return nil, nil, err
	}
	_, trans := raft.NewInmemTransport("")
	return rc, trans, nil
}

// PlanRecovery checks a recovery of self's stored configuration servers to
// the voters named in keep and returns the new configuration (the kept
// voters, at their stored addresses) and the servers it drops. It refuses
// what is no recovery from a lost majority: self or a name that is no
// stored voter among keep, keeping every voter, or keeping a majority (a
// majority elects on its own; `vigil node remove` drops the others).
func PlanRecovery(servers []raft.Server, self string, keep []string) (raft.Configuration, []string, error) {
	var conf raft.Configuration
	var voters, dropped []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters = append(voters, string(s.ID))
		}
	}
	refuse := func(format string, args ...any) (raft.Configuration, []string, error) {
		return raft.Configuration{}, nil, fmt.Errorf("%w: "+format, append([]any{ErrRecover}, args...)...)
	}
	if len(voters) == 0 {
		return refuse("no voters in the stored configuration")
	}
	for i, k := range keep {
		switch {
		case !slices.Contains(voters, k):
			return refuse("%q is not a voter (voters: %s)", k, strings.Join(voters, ", "))
		case slices.Contains(keep[:i], k):
			return refuse("%q is named twice", k)
		}
	}
	if !slices.Contains(keep, self) {
		return refuse("this node (%s) must be among the voters it keeps: run the recovery on each node that is kept", self)
	}
	if len(keep) == len(voters) {
		return refuse("every voter (%s) is kept: nothing to recover", strings.Join(voters, ", "))
	}
	if len(keep)*2 > len(voters) {
		return refuse("%s are a majority of the %d voters and elect a leader without a recovery; "+
			"remove the others with `vigil node remove NAME` once they lead", strings.Join(keep, ", "), len(voters))
	}
	for _, s := range servers {
		if s.Suffrage == raft.Voter && slices.Contains(keep, string(s.ID)) {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: s.ID, Address: s.Address})
		} else {
			dropped = append(dropped, string(s.ID))
		}
	}
	return conf, dropped, nil
}
