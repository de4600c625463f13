package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/cli"

	"github.com/vigil-ha/vigil/cluster/keyring"
	"github.com/vigil-ha/vigil/configs"
)

const keyringHelp = `
Usage: vigil keyring list
       vigil keyring install|use|remove KEYFILE

  Rotates the heartbeat link's gossip key on every node of the running
  cluster, without a restart and without losing a heartbeat:

    vigil keygen -out /etc/vigil/gossip.new
    vigil keyring install /etc/vigil/gossip.new   # every node decrypts with it
    vigil keyring use /etc/vigil/gossip.new       # every node encrypts with it
    vigil keyring remove /etc/vigil/gossip.old    # the old key stops working

  KEYFILE holds a base64 key (as vigil keygen writes it) and must not be
  readable by group or others. The key goes to the local agent, which sends
  it to every configured node over the cluster port (mutual TLS). Each node
  keeps its keyring in data_dir/keyring.json (mode 0600), which takes
  precedence over gossip_key_file at restart; point gossip_key_file at the
  new key too, for machines set up later.

  'use' is refused unless every node answers and holds the key; 'remove' is
  refused while any node still encrypts with the key. 'list' shows key
  fingerprints (first 8 bytes of SHA-256), never keys.`

type keyringCmd struct {
	ui cli.Ui
	op string // "" = list
}

func (c *keyringCmd) Synopsis() string {
	if c.op == "" {
		return "Show every node's gossip keys (fingerprints)"
	}
	return map[string]string{
		keyring.OpInstall: "Install a gossip key on every node",
		keyring.OpUse:     "Encrypt the heartbeat link with an installed key",
		keyring.OpRemove:  "Remove a gossip key from every node",
	}[c.op]
}

func (c *keyringCmd) Help() string { return strings.TrimSpace(keyringHelp) }

func (c *keyringCmd) Run(args []string) int {
	name, n := "keyring list", 0
	if c.op != "" {
		name, n = "keyring "+c.op, 1
	}
	fs := newFlagSet(name, c.ui)
	cl, rest, ok := connect(c.ui, fs, args, n, n, c.Help())
	if !ok {
		return 1
	}
	var req *keyring.Request
	if c.op != "" {
		key, err := readKeyFile(rest[0])
		if err != nil {
			return fail(c.ui, err)
		}
		req = &keyring.Request{Op: c.op, Key: base64.StdEncoding.EncodeToString(key)}
	}
	ctx, cancel := ctx()
	defer cancel()
	reply, err := cl.Keyring(ctx, req)
	if err != nil {
		return fail(c.ui, err)
	}
	for _, n := range reply.Nodes {
		if n.Error != "" {
			c.ui.Output(fmt.Sprintf("%-16s ERROR: %s", n.Node, n.Error))
			continue
		}
		var keys []string
		for _, k := range n.Keys {
			if k == n.Primary {
				k += " (in use)"
			}
			keys = append(keys, k)
		}
		c.ui.Output(fmt.Sprintf("%-16s %s", n.Node, strings.Join(keys, ", ")))
	}
	if failed := reply.Failed(); len(failed) > 0 {
		return fail(c.ui, fmt.Errorf("keyring %s failed on %s", c.op, strings.Join(failed, ", ")))
	}
	return 0
}

// readKeyFile reads a private base64 key file.
func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("permissions %04o for '%s' are too open; it must not be accessible by group or others (chmod 600)", perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := configs.DecodeGossipKey(b)
	if err != nil {
		return nil, fmt.Errorf("'%s' %w", path, err)
	}
	return key, nil
}
