package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/builtin"
)

// writeFile writes content to dir/name with the given mode (chmod after
// create so the umask does not interfere).
func writeFile(t testing.TB, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeSecrets creates everything validConfig refers to: a gossip key, a TLS
// CA + node certificate + key, and the IPMI password files.
func writeSecrets(t testing.TB, dir string) {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "gossip.key", base64.StdEncoding.EncodeToString(key)+"\n", 0o600)
	writeFile(t, dir, "lb1.ipmi", "s3cret\n", 0o600)
	writeFile(t, dir, "lb2.ipmi", "other", 0o400)
	caPEM, certPEM, keyPEM := makeCerts(t)
	writeFile(t, dir, "ca.pem", caPEM, 0o644)
	writeFile(t, dir, "node.pem", certPEM, 0o644)
	writeFile(t, dir, "node-key.pem", keyPEM, 0o600)
}

func makeCerts(t testing.TB) (caPEM, certPEM, keyPEM string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nodeTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lb1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	caCert, _ := x509.ParseCertificate(caDER)
	nodeDER, err := x509.CreateCertificate(rand.Reader, nodeTmpl, caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return enc("CERTIFICATE", caDER), enc("CERTIFICATE", nodeDER), enc("EC PRIVATE KEY", kb)
}

// validConfig is a complete configuration using every feature. Secret paths
// are relative, so they resolve next to the file.
const validConfig = `node_name   = "lb1"
data_dir    = "/var/lib/vigil"
log_level   = "debug"
maintenance = true

cluster {
  name            = "edge"
  bind            = "198.18.0.11:7300"
  heartbeat       = "198.18.1.11:7301"
  gossip_key_file = "gossip.key"
  timing          = "fast"
  tuning {
    probe_interval = "300ms"
    suspicion_mult = 3
  }
  tls {
    ca_file   = "ca.pem"
    cert_file = "node.pem"
    key_file  = "node-key.pem"
  }
  api {
    socket  = "/run/vigil.sock"
    address = "198.18.0.11:7400"
  }
}

node "lb1" {
  address         = "198.18.0.11:7300"
  heartbeat       = "198.18.1.11:7301"
  fence           = ["lb1-bmc", "lb1-ec2"]
  fence_delay     = "1s"
  fence_delay_max = "2s"
}

node "lb2" {
  address   = "198.18.0.12:7300"
  heartbeat = "198.18.1.12:7301"
  fence_level {
    devices = ["lb2-bmc"]
  }
  fence_level {
    devices = ["lb2-ec2", "lb2-exec"]
  }
}

node "witness" {
  address   = "198.18.0.13:7300"
  heartbeat = "198.18.1.13:7301"
  witness   = true
}

fence "ipmi" "lb1-bmc" {
  host          = "198.18.1.201"
  port          = 623
  username      = "admin"
  password_file = "lb1.ipmi"
  cipher_suite  = 17
  timeout       = "20s"
  retries       = 3
  action        = "reboot"
}

fence "aws" "lb1-ec2" {
  instance_id = "i-0abc"
  region      = "eu-west-1"
}

fence "ipmi" "lb2-bmc" {
  host          = "198.18.1.202"
  username      = "admin"
  password_file = "lb2.ipmi"
}

fence "aws" "lb2-ec2" {
  instance_id = "i-0def"
}

fence "exec" "lb2-exec" {
  agent  = "fence_ipmilan"
  params = { ip = "198.18.1.202", lanplus = "1" }
}

group "db" {
  resource "systemd" "postgres" {
    unit = "postgresql.service"
  }
}

group "web" {
  prefer              = "lb1"
  failback            = true
  migration_threshold = 5
  failure_timeout     = "10m"
  min_move_interval   = "30s"
  maintenance         = false

  resource "ipaddr" "vip" {
    address          = "198.18.0.100/24"
    interface        = "eth0"
    start_timeout    = "5s"
    stop_timeout     = "6s"
    monitor_timeout  = "7s"
    monitor_interval = "2s"
    on_fail          = "fence"
  }
  resource "ocf" "www" {
    agent  = "heartbeat:apache"
    params = { configfile = "/etc/apache2/apache2.conf" }
  }
  resource "exec" "hook" {
    start  = "true"
    stop   = "true"
    status = "true"
    env    = { FOO = "bar" }
  }
  resource "awsroute" "rt" {
    route_tables = ["rtb-1", "rtb-2"]
    destination  = "198.19.0.0/16"
  }
  check "http" "site" {
    url      = "http://127.0.0.1/health"
    interval = "1s"
    timeout  = "500ms"
    fall     = 4
    rise     = 1
  }
}

check "exec" "node-ok" {
  command = "true"
}

order {
  first = "db"
  then  = "web"
}

colocate {
  group = "web"
  with  = "db"
  apart = true
}
`

// setup writes the secrets and config text to a fresh directory and returns
// the config file's path.
func setup(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	writeSecrets(t, dir)
	return writeFile(t, dir, "vigil.hcl", text, 0o644)
}

// diagsOf asserts err is Diagnostics and returns it.
func diagsOf(t *testing.T, err error) Diagnostics {
	t.Helper()
	var ds Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("error is %T, want Diagnostics: %v", err, err)
	}
	return ds
}

// lineOf returns the 1-based line of the first line of text containing sub.
func lineOf(t *testing.T, text, sub string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not in config", sub)
	return 0
}

// loadBuiltin is Load with vigil's built-in types.
func loadBuiltin(path string) (*Config, error) { return Load(path, builtin.Schemas()) }
