package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/builtin"
	"github.com/vigil-ha/vigil/cluster/agent"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

type validateCmd struct{ ui cli.Ui }

func (c *validateCmd) Synopsis() string { return "Check a configuration file or directory" }
func (c *validateCmd) Help() string {
	return "Usage: vigil config validate PATH\n\n  Loads PATH (a .hcl file or a directory of .hcl files) and prints every\n  problem as file:line:col: key: message. Exits 1 if there is any."
}

func (c *validateCmd) Run(args []string) int {
	fs := newFlagSet("config validate", c.ui)
	rest, ok := parse(c.ui, fs, args, 1, 1, c.Help())
	if !ok {
		return 1
	}
	cfg, err := configs.Load(rest[0], builtin.Schemas())
	if err != nil {
		var ds configs.Diagnostics
		if errors.As(err, &ds) {
			for _, d := range ds {
				c.ui.Error(d.String())
			}
			c.ui.Error(fmt.Sprintf("%d problem(s) in %s", len(ds), rest[0]))
			return 1
		}
		return fail(c.ui, err)
	}
	if err := checkAgents(cfg); err != nil {
		c.ui.Error(err.Error())
		return 1
	}
	// Build the agent as `vigil agent` would (its start-up checks, every
	// resource, check and fence device) without starting it.
	a, err := agent.New(agent.Deps{Config: cfg, Logger: hclog.NewNullLogger(), Resources: resourceRegistry(),
		Fencers: fenceRegistry(), Checks: checkRegistry(), Version: version})
	if err != nil {
		c.ui.Error(err.Error())
		c.ui.Error(fmt.Sprintf("%s: the agent would refuse to start", rest[0]))
		return 1
	}
	for _, w := range a.Warnings() {
		c.ui.Warn("warning: " + w)
	}
	if w := raftDisagreement(cfg); w != "" {
		c.ui.Warn("warning: " + w)
	}
	c.ui.Output(fmt.Sprintf("%s: valid (node %s, cluster %s, %s, %s, timing %s)",
		rest[0], cfg.NodeName, cfg.Cluster.Name, plural(len(cfg.Nodes), "node"), plural(len(cfg.Groups), "group"), cfg.Cluster.Timing.Preset))
	return 0
}

type keygenCmd struct{ ui cli.Ui }

func (c *keygenCmd) Synopsis() string { return "Generate a gossip encryption key" }
func (c *keygenCmd) Help() string {
	return "Usage: vigil keygen [-out FILE]\n\n  Generates a 32-byte AES-GCM key for the heartbeat link, base64-encoded.\n  With -out it is written to FILE with mode 0600 (refusing to overwrite);\n  point cluster.gossip_key_file at it on every node."
}

func (c *keygenCmd) Run(args []string) int {
	fs := newFlagSet("keygen", c.ui)
	var out string
	fs.StringVar(&out, "out", "", "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fail(c.ui, err)
	}
	enc := base64.StdEncoding.EncodeToString(key)
	if out == "" {
		c.ui.Output(enc)
		return 0
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(c.ui, fmt.Errorf("write key: %w", err))
	}
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return fail(c.ui, err)
	}
	if err := f.Close(); err != nil {
		return fail(c.ui, err)
	}
	c.ui.Output("gossip key written to " + out)
	return 0
}

type tlsCACmd struct{ ui cli.Ui }

func (c *tlsCACmd) Synopsis() string { return "Create the cluster's certificate authority" }
func (c *tlsCACmd) Help() string {
	return "Usage: vigil tls ca create [-dir DIR]\n\n  Writes ca.pem and ca-key.pem (0600) in DIR (default: current directory)."
}

func (c *tlsCACmd) Run(args []string) int {
	fs := newFlagSet("tls ca create", c.ui)
	var dir string
	fs.StringVar(&dir, "dir", ".", "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	cert, key, err := tlsutil.CreateCA(dir)
	if err != nil {
		return fail(c.ui, err)
	}
	c.ui.Output(fmt.Sprintf("CA certificate %s\nCA key %s (keep it off the cluster nodes if you can)", cert, key))
	return 0
}

type tlsCertCmd struct{ ui cli.Ui }

func (c *tlsCertCmd) Synopsis() string {
	return "Create a node or operator certificate signed by the cluster CA"
}
func (c *tlsCertCmd) Help() string {
	return `Usage: vigil tls cert create -node NAME [-ip IP]... [-dns NAME]... [-dir DIR] [-ca-dir DIR]
       vigil tls cert create -operator NAME [-dir DIR] [-ca-dir DIR]

  -node NAME      writes NAME.pem and NAME-key.pem (0600): the node's identity
                  on the cluster link (vigil://node/NAME). Only configured
                  nodes are accepted there, each only as itself.
  -operator NAME  writes operator-NAME.pem and operator-NAME-key.pem (0600):
                  a client certificate for the TCP API (cluster.api.address),
                  refused on the cluster port. Node certificates are not
                  accepted by the TCP API.

  The CA key (ca-key.pem in -ca-dir) must not be readable by group or others.
  See docs/security.md for rotation.`
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func (c *tlsCertCmd) Run(args []string) int {
	fs := newFlagSet("tls cert create", c.ui)
	var dir, caDir, node, operator string
	var ips, dns multi
	fs.StringVar(&dir, "dir", ".", "")
	fs.StringVar(&caDir, "ca-dir", "", "")
	fs.StringVar(&node, "node", "", "")
	fs.StringVar(&operator, "operator", "", "")
	fs.Var(&ips, "ip", "")
	fs.Var(&dns, "dns", "")
	if _, ok := parse(c.ui, fs, args, 0, 0, c.Help()); !ok {
		return 1
	}
	if (node == "") == (operator == "") {
		c.ui.Error("vigil tls cert create: exactly one of -node NAME or -operator NAME is required\n" + c.Help())
		return 1
	}
	if caDir == "" {
		caDir = dir
	}
	if operator != "" {
		if len(ips) > 0 || len(dns) > 0 {
			return fail(c.ui, fmt.Errorf("-ip and -dns are for node certificates; an operator certificate names a person or tool"))
		}
		cert, key, err := tlsutil.CreateOperatorCert(caDir+"/ca.pem", caDir+"/ca-key.pem", dir, operator)
		if err != nil {
			return fail(c.ui, err)
		}
		c.ui.Output(fmt.Sprintf("operator certificate %s\noperator key %s\nuse: vigil status -address https://HOST:PORT -ca-file %s/ca.pem -cert-file %s -key-file %s",
			cert, key, caDir, cert, key))
		return 0
	}
	var parsed []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fail(c.ui, fmt.Errorf("-ip %q is not an IP address", s))
		}
		parsed = append(parsed, ip)
	}
	cert, key, err := tlsutil.CreateCert(caDir+"/ca.pem", caDir+"/ca-key.pem", dir, node, parsed, dns)
	if err != nil {
		return fail(c.ui, err)
	}
	c.ui.Output(fmt.Sprintf("node certificate %s\nnode key %s", cert, key))
	return 0
}
