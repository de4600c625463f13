package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

// ClusterSpec describes a lab cluster of two resource nodes (n1, n2) and a
// witness (w).
type ClusterSpec struct {
	Name     string // cluster name; default "lab"
	Preset   string // timing preset fast | lan | wan; default fast
	LogLevel string // agent log level; default debug
	// Extra is HCL appended to every node's config (groups, fences, checks).
	Extra string
	// TwoNode: n1 and n2 only (no witness), `two_node = true`.
	TwoNode bool
	// ClusterExtra is HCL lines inside the cluster block (wait_for_all,
	// a tuning block...).
	ClusterExtra string
	// Hosts replaces n1, n2 (and w) with other names and addresses, for
	// several clusters in one lab; key material then lives under Name.
	Hosts []ClusterHost
}

// ClusterHost is one node of a lab cluster: name, pub and hb addresses.
type ClusterHost struct {
	Name, Pub, HB string
	Witness       bool
}

// Node is one vigil agent of a lab cluster.
type Node struct {
	Name    string
	Witness bool
	Host    *Host
	Dir     string // <lab dir>/<name>: config, data_dir, socket
	Config  string // path of the HCL config
	Socket  string // API unix socket
	DataDir string
	// Bin, when set, is the vigil binary this node's agent runs instead of
	// the cluster's (another version, for upgrades).
	Bin string

	proc *Proc // running agent, nil while stopped
}

// Cluster is a running set of vigil agents in a lab.
type Cluster struct {
	Lab   *Lab
	Spec  ClusterSpec
	Nodes []*Node // n1, n2, w
	Bin   string  // bin/vigil
}

// ClusterNodes are the fixed lab addresses: pub .11-.13, hb .11-.13.
var clusterNodes = []struct {
	name, pub, hb string
	witness       bool
}{
	{"n1", "198.18.0.11", "198.18.1.11", false},
	{"n2", "198.18.0.12", "198.18.1.12", false},
	{"w", "198.18.0.13", "198.18.1.13", true},
}

// Ports of the cluster link (raft) and the heartbeat link (memberlist).
const (
	ClusterPort   = 7300
	HeartbeatPort = 7301
)

// StartCluster creates hosts n1, n2 and w in l, writes the gossip key, the
// TLS material and one config per node, and starts `vigil agent` on each.
func StartCluster(l *Lab, spec ClusterSpec) *Cluster {
	l.tb.Helper()
	c := prepareCluster(l, spec, Vigil(l.tb))
	for _, n := range c.Nodes {
		c.Start(n.Name)
	}
	return c
}

// prepareCluster creates the hosts, key material and configs; with bin ""
// the key material is made in Go.
func prepareCluster(l *Lab, spec ClusterSpec, bin string) *Cluster {
	tb := l.tb
	tb.Helper()
	if spec.Name == "" {
		spec.Name = "lab"
	}
	if spec.Preset == "" {
		spec.Preset = "fast"
	}
	if spec.LogLevel == "" {
		spec.LogLevel = "debug"
	}
	c := &Cluster{Lab: l, Spec: spec, Bin: bin}
	hosts := spec.Hosts
	if hosts == nil {
		for _, cn := range clusterNodes {
			if !spec.TwoNode || !cn.witness {
				hosts = append(hosts, ClusterHost{Name: cn.name, Pub: cn.pub, HB: cn.hb, Witness: cn.witness})
			}
		}
	}
	for _, cn := range hosts {
		dir := filepath.Join(l.dir, cn.Name)
		n := &Node{
			Name: cn.Name, Witness: cn.Witness, Dir: dir,
			Host:    l.AddHost(cn.Name, cn.Pub, cn.HB),
			Config:  filepath.Join(dir, "vigil.hcl"),
			Socket:  filepath.Join(dir, "vigil.sock"),
			DataDir: filepath.Join(dir, "data"),
		}
		if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
			tb.Fatalf("lab: %v", err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.writeMaterial(); err != nil {
		tb.Fatalf("lab: cluster key material: %v", err)
	}
	for _, n := range c.Nodes {
		if err := os.WriteFile(n.Config, []byte(c.config(n)), 0o600); err != nil {
			tb.Fatalf("lab: %v", err)
		}
	}
	return c
}

func (c *Cluster) keyFile() string { return filepath.Join(c.material(), "gossip.key") }
func (c *Cluster) tlsDir() string  { return filepath.Join(c.material(), "tls") }

// material is where the key material lives: the lab dir, or a directory
// per cluster when the spec names its hosts (several clusters in one lab).
func (c *Cluster) material() string {
	if c.Spec.Hosts == nil {
		return c.Lab.dir
	}
	d := filepath.Join(c.Lab.dir, "cluster-"+c.Spec.Name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		c.Lab.tb.Fatalf("lab: %v", err)
	}
	return d
}

// writeMaterial makes the gossip key and the TLS files with the vigil CLI
// (keygen, tls ca create, tls cert create). Where a command is missing or
// fails, it logs why and makes the same files in Go with cluster/tlsutil.
func (c *Cluster) writeMaterial() error {
	tb := c.Lab.tb
	if err := os.MkdirAll(c.tlsDir(), 0o700); err != nil {
		return err
	}
	if _, err := c.local("keygen", "-out", c.keyFile()); err != nil {
		tb.Logf("lab: `vigil keygen` failed, writing the gossip key in Go: %v", err)
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		if err := os.WriteFile(c.keyFile(), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return err
		}
	}
	caCert, caKey := filepath.Join(c.tlsDir(), "ca.pem"), filepath.Join(c.tlsDir(), "ca-key.pem")
	useCLI := true
	if _, err := c.local("tls", "ca", "create", "-dir", c.tlsDir()); err != nil {
		tb.Logf("lab: `vigil tls ca create` failed, making the CA in Go: %v", err)
		useCLI = false
		if _, _, err := tlsutil.CreateCA(c.tlsDir()); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if useCLI {
			_, err := c.local("tls", "cert", "create", "-dir", c.tlsDir(), "-node", n.Name, "-ip", n.Host.IP(Pub), "-ip", n.Host.IP(HB))
			if err == nil {
				continue
			}
			tb.Logf("lab: `vigil tls cert create` failed, making the certificate in Go: %v", err)
		}
		ips := []net.IP{net.ParseIP(n.Host.IP(Pub)), net.ParseIP(n.Host.IP(HB))}
		if _, _, err := tlsutil.CreateCert(caCert, caKey, c.tlsDir(), n.Name, ips, nil); err != nil {
			return err
		}
	}
	return nil
}

// config renders node n's HCL config.
func (c *Cluster) config(n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node_name = %q\ndata_dir  = %q\nlog_level = %q\n\n", n.Name, n.DataDir, c.Spec.LogLevel)
	fmt.Fprintf(&b, "cluster {\n")
	fmt.Fprintf(&b, "  name            = %q\n", c.Spec.Name)
	fmt.Fprintf(&b, "  bind            = %q\n", hostPort(n.Host.IP(Pub), ClusterPort))
	fmt.Fprintf(&b, "  heartbeat       = %q\n", hostPort(n.Host.IP(HB), HeartbeatPort))
	fmt.Fprintf(&b, "  gossip_key_file = %q\n", c.keyFile())
	fmt.Fprintf(&b, "  timing          = %q\n", c.Spec.Preset)
	if c.Spec.TwoNode {
		fmt.Fprintf(&b, "  two_node        = true\n")
	}
	b.WriteString(c.Spec.ClusterExtra)
	fmt.Fprintf(&b, "  tls {\n    ca_file   = %q\n    cert_file = %q\n    key_file  = %q\n  }\n",
		filepath.Join(c.tlsDir(), "ca.pem"), filepath.Join(c.tlsDir(), n.Name+".pem"), filepath.Join(c.tlsDir(), n.Name+"-key.pem"))
	fmt.Fprintf(&b, "  api {\n    socket = %q\n  }\n}\n\n", n.Socket)
	for _, o := range c.Nodes {
		fmt.Fprintf(&b, "node %q {\n  address   = %q\n  heartbeat = %q\n", o.Name,
			hostPort(o.Host.IP(Pub), ClusterPort), hostPort(o.Host.IP(HB), HeartbeatPort))
		if o.Witness {
			b.WriteString("  witness   = true\n")
		}
		b.WriteString("}\n")
	}
	if c.Spec.Extra != "" {
		b.WriteString("\n" + c.Spec.Extra + "\n")
	}
	return b.String()
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

// Node returns the named node; unknown names fail the test.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.Lab.tb.Fatalf("lab: no cluster node %q", name)
	return nil
}

// Running reports whether node's agent process is running.
func (c *Cluster) Running(name string) bool {
	n := c.Node(name)
	return n.proc != nil && !n.proc.Exited()
}

// Agent is the node's agent process (nil while stopped).
func (c *Cluster) Agent(name string) *Proc { return c.Node(name).proc }

// Start starts the node's agent (`vigil agent -config FILE`) in its host.
func (c *Cluster) Start(name string) {
	c.Lab.tb.Helper()
	n := c.Node(name)
	if c.Running(name) {
		c.Lab.tb.Fatalf("lab: agent %s already running", name)
	}
	bin := c.Bin
	if n.Bin != "" {
		bin = n.Bin
	}
	n.proc = n.Host.Start("vigil", bin, "agent", "-config", n.Config)
}

// Stop stops the node's agent cleanly (SIGTERM, SIGKILL after 10 s).
func (c *Cluster) Stop(name string) {
	c.Lab.tb.Helper()
	n := c.Node(name)
	if n.proc == nil {
		return
	}
	if err := n.proc.Stop(10 * time.Second); err != nil {
		c.Lab.tb.Logf("lab: stop agent %s: %v", name, err)
	}
	n.proc = nil
}

// Restart stops and starts the node's agent with the same config and data_dir.
func (c *Cluster) Restart(name string) {
	c.Lab.tb.Helper()
	c.Stop(name)
	c.Start(name)
}

// PowerOff cuts the node's power (Host.PowerOff): the agent dies with
// everything else in the namespace and its addresses vanish.
func (c *Cluster) PowerOff(name string) {
	c.Lab.tb.Helper()
	n := c.Node(name)
	n.Host.PowerOff()
	if n.proc != nil {
		if err := n.proc.WaitTimeout(5 * time.Second); err == nil {
			c.Lab.tb.Logf("lab: agent %s exited cleanly on power-off", name)
		}
		n.proc = nil
	}
}

// PowerOn restores the node's links and starts its agent again.
func (c *Cluster) PowerOn(name string) {
	c.Lab.tb.Helper()
	c.Node(name).Host.PowerOn()
	c.Start(name)
}

// Up lists the nodes whose agents are running.
func (c *Cluster) Up() []string {
	var up []string
	for _, n := range c.Nodes {
		if c.Running(n.Name) {
			up = append(up, n.Name)
		}
	}
	return up
}

// CLI runs `vigil ARGS` inside node's namespace against node's API socket.
// The -address flag goes after the command words (node standby, status...),
// before any positional arguments, as Go's flag parsing needs.
func (c *Cluster) CLI(node string, args ...string) (string, error) {
	return c.CLIContext(context.Background(), node, args...)
}

// RewriteConfigs writes edit(node, its config) to every node's config file,
// then runs `vigil reload` on each node that reload names (every node when
// it names none), and returns the replies by node.
func (c *Cluster) RewriteConfigs(tb testing.TB, edit func(node, cfg string) string, reload ...string) map[string]string {
	tb.Helper()
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.Config)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(n.Config, []byte(edit(n.Name, string(b))), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	out := map[string]string{}
	for _, n := range c.Nodes {
		if len(reload) > 0 && !slices.Contains(reload, n.Name) {
			continue
		}
		r, err := c.CLI(n.Name, "reload")
		if err != nil {
			tb.Fatalf("reload on %s: %v\n%s", n.Name, err, r)
		}
		out[n.Name] = r
	}
	return out
}

// CLIContext is CLI bounded by ctx (and by 10 s in any case).
func (c *Cluster) CLIContext(ctx context.Context, node string, args ...string) (string, error) {
	n := c.Node(node)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	words := 1
	if len(args) > 1 {
		switch args[0] {
		case "node", "resource", "fence", "tls", "config", "group", "leader", "keyring":
			words = 2
		}
	}
	words = min(words, len(args))
	argv := append([]string{"netns", "exec", n.Host.ns, c.Bin}, args[:words]...)
	argv = append(argv, "-address", "unix://"+n.Socket)
	argv = append(argv, args[words:]...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	// Both the flag and the environment name the socket, so a command that
	// takes the flag elsewhere in its argument list still finds the agent.
	cmd.Env = append(os.Environ(), "VIGIL_ADDR=unix://"+n.Socket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("vigil %s on %s: %w: %s%s", strings.Join(args, " "), node, err,
			bytes.TrimSpace(stderr.Bytes()), bytes.TrimSpace(out))
	}
	return string(out), nil
}

// API is a client of node's agent on its API socket, straight from the
// test process (a unix socket is not in a network namespace): what the CLI
// sends, without the 15-60 ms that starting the CLI under `ip netns exec`
// takes here, for benches that time from the request.
func (c *Cluster) API(node string) (*api.Client, error) {
	return api.NewClient("unix://"+c.Node(node).Socket, nil)
}

// local runs the vigil binary in the root namespace (key material commands).
func (c *Cluster) local(args ...string) (string, error) {
	if c.Bin == "" {
		return "", errors.New("no vigil binary")
	}
	return run(append([]string{c.Bin}, args...)...)
}

// Status is `vigil status -json` as seen by node.
func (c *Cluster) Status(node string) (api.Status, error) {
	return c.StatusContext(context.Background(), node)
}

// StatusContext is Status bounded by ctx.
func (c *Cluster) StatusContext(ctx context.Context, node string) (api.Status, error) {
	return c.status(ctx, node, "status", "-json")
}

// LocalStatus is `vigil status -json -stale`: node's own view, without
// asking the leader (which may be dead: forwarding then waits for a dial
// timeout).
func (c *Cluster) LocalStatus(ctx context.Context, node string) (api.Status, error) {
	return c.status(ctx, node, "status", "-json", "-stale")
}

func (c *Cluster) status(ctx context.Context, node string, args ...string) (api.Status, error) {
	var st api.Status
	out, err := c.CLIContext(ctx, node, args...)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("vigil status -json on %s: %w: %q", node, err, out)
	}
	return st, nil
}
