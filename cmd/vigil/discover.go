package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/configs"
)

// Where packaged agents listen: the systemd unit's RuntimeDirectory, then
// the default data_dir.
const (
	runSocket  = "/run/vigil/vigil.sock"
	dataSocket = "/var/lib/vigil/vigil.sock"
)

// devSocket is the fixed socket of `vigil agent -dev` for this user, so
// that a plain `vigil status` finds it.
func devSocket(uid int) string {
	return filepath.Join(os.TempDir(), "vigil-dev-"+strconv.Itoa(uid), "vigil.sock")
}

// defaultSockets are the sockets tried without -address or -config, in order.
func defaultSockets(uid int) []string { return []string{runSocket, dataSocket, devSocket(uid)} }

// findAgent picks the agent's API address: -address (or VIGIL_ADDR) as
// given; else the api socket of -config (or VIGIL_CONFIG); else the first
// of the candidate sockets that exists.
func findAgent(address, config string, candidates []string) (string, error) {
	if address != "" {
		return address, nil
	}
	if config != "" {
		cfg, err := configs.Load(config, builtin.Schemas())
		if err != nil {
			return "", fmt.Errorf("cannot find the agent's socket in %s:\n%w", config, err)
		}
		sock := cfg.Cluster.API.Socket
		if sock == "" {
			sock = filepath.Join(cfg.DataDir, "vigil.sock")
		}
		return "unix://" + sock, nil
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return "unix://" + p, nil
		}
	}
	return "", fmt.Errorf("no vigil agent found: no socket at %s (is the agent running? "+
		"point at it with -address, VIGIL_ADDR, -config or VIGIL_CONFIG)", strings.Join(candidates, ", "))
}

// connHelp documents the flags every command that talks to the agent takes.
const connHelp = `
Connection options (every command that talks to the agent):

  -address ADDR     the agent's API: unix:///path/vigil.sock or
                    https://host:port (mutual TLS). Env VIGIL_ADDR.
  -config PATH      read the API socket from this agent config (its
                    cluster.api.socket, else data_dir/vigil.sock).
                    Env VIGIL_CONFIG.
  -ca-file PATH     CA certificate for https:// addresses. Env VIGIL_CACERT.
  -cert-file PATH   client certificate signed by the cluster CA.
                    Env VIGIL_CLIENT_CERT.
  -key-file PATH    its private key. Env VIGIL_CLIENT_KEY.

  Without -address or -config the first socket found of
  /run/vigil/vigil.sock, /var/lib/vigil/vigil.sock and the dev agent's
  (` + "`vigil agent -dev`" + `) is used.`

// connCmd adds the connection options to a command's help.
type connCmd struct{ cli.Command }

func (c connCmd) Help() string { return strings.TrimRight(c.Command.Help(), "\n") + "\n" + connHelp }

// plural says "1 group", "2 groups".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// privateDir creates dir (mode 0700) or checks that the existing one is
// ours and private: it is in the shared temp directory, where another user
// could have made it first.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s must be a directory owned by you with mode 0700; remove it and try again", dir)
	}
	return nil
}
