package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

// Preflight runs the host checks the agent runs before it starts: the node
// certificate names this node, chains to ca_file and is valid; bind and
// heartbeat match this node's block; data_dir is usable and private. New
// runs it, and so does `vigil config validate` (through New), so a config
// that validates also starts. It returns warnings (a certificate that
// expires soon) and an error naming every problem.
func Preflight(cfg *configs.Config, now time.Time) (warnings []string, err error) {
	var errs []error
	if t := cfg.Cluster.TLS; !t.Empty() {
		w, err := tlsutil.CheckNodeCert(t.CAFile, t.CertFile, t.KeyFile, cfg.NodeName, now)
		warnings = append(warnings, w...)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster.tls: %w", err))
		}
	}
	local := cfg.Local()
	if cfg.Cluster.Bind != local.Address && !sameHostPort(cfg.Cluster.Bind, local.Address) {
		errs = append(errs, fmt.Errorf("cluster.bind %s differs from node %q's address %s: peers dial the address, raft listens on bind",
			cfg.Cluster.Bind, cfg.NodeName, local.Address))
	}
	if cfg.Cluster.Heartbeat != local.Heartbeat && !sameHostPort(cfg.Cluster.Heartbeat, local.Heartbeat) {
		errs = append(errs, fmt.Errorf("cluster.heartbeat %s differs from node %q's heartbeat %s",
			cfg.Cluster.Heartbeat, cfg.NodeName, local.Heartbeat))
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		errs = append(errs, err)
	}
	return warnings, errors.Join(errs...)
}

func sameHostPort(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp {
		return false
	}
	ai, bi := net.ParseIP(ah), net.ParseIP(bh)
	return ai != nil && ai.Equal(bi)
}

// checkDataDir: data_dir holds the raft log and the state machine's
// snapshots. Anyone who can write there can rewrite the cluster's history,
// so it must belong to the agent's user and not be group/world writable.
// A missing data_dir is fine when its parent lets the agent create it.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		parent := filepath.Dir(filepath.Clean(dir))
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("data_dir %s does not exist and cannot be created in %s: %w", dir, parent, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data_dir %s is not a directory", dir)
	}
	var errs []error
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		errs = append(errs, fmt.Errorf("data_dir %s is owned by uid %d, but the agent runs as uid %d (chown it)", dir, st.Uid, os.Geteuid()))
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		errs = append(errs, fmt.Errorf("data_dir %s has mode %04o: it must not be writable by group or others (chmod 700 %s)", dir, perm, dir))
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		errs = append(errs, fmt.Errorf("data_dir %s is not writable: %w", dir, err))
	}
	return errors.Join(errs...)
}
