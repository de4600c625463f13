# vigil on an EC2 pair: lb1 and lb2 run haproxy behind an Elastic IP, a small
# witness instance gives the cluster its third vote. This file is the same on
# all three instances except for node_name. See README.md.

node_name = "lb1" # lb1 | lb2 | witness
data_dir  = "/var/lib/vigil"
log_level = "info"

cluster {
  name            = "edge"
  gossip_key_file = "/etc/vigil/gossip.key" # vigil keygen -out /etc/vigil/gossip.key
  # EC2 instances can pause for a moment (host maintenance, noisy
  # neighbours): lan detects a dead node in about 3 seconds without
  # shooting a live one.
  timing = "lan"

  tls {
    ca_file   = "/etc/vigil/tls/ca.pem"
    cert_file = "/etc/vigil/tls/node.pem"     # this instance's certificate
    key_file  = "/etc/vigil/tls/node-key.pem" # mode 0600
  }

  api {
    socket = "/run/vigil/vigil.sock"
  }
}

# address: the cluster link (raft) on the primary ENI; heartbeat: the
# dedicated link (memberlist) on a second ENI in another subnet, so that one
# broken path is a warning, not a failover.
node "lb1" {
  address   = "10.0.1.11:7300"
  heartbeat = "10.0.9.11:7301"
  fence     = ["lb1-ec2"]
}

node "lb2" {
  address   = "10.0.1.12:7300"
  heartbeat = "10.0.9.12:7301"
  fence     = ["lb2-ec2"]
}

node "witness" {
  address   = "10.0.1.13:7300"
  heartbeat = "10.0.9.13:7301"
  witness   = true
}

# Fencing = StopInstances(Force, SkipOsShutdown), confirmed by reading the
# instance as "stopped". Whoever leads the cluster (possibly the witness)
# fences; it refuses while its own instance is not running.
fence "aws" "lb1-ec2" {
  instance_id = "i-0a1b2c3d4e5f60001"
  region      = "eu-west-1"
}

fence "aws" "lb2-ec2" {
  instance_id = "i-0a1b2c3d4e5f60002"
  region      = "eu-west-1"
}

group "web" {
  prefer   = "lb1"
  failback = false # stay on lb2 after lb1 returns

  # The Elastic IP: associated with this instance's primary ENI (from IMDS).
  # Reassociation takes it from the old holder in the same call.
  resource "awseip" "public-ip" {
    allocation_id    = "eipalloc-0a1b2c3d4e5f60001"
    monitor_interval = "5s"
  }

  # haproxy, started after the address and stopped before it is released.
  resource "exec" "haproxy" {
    start  = "haproxy -D -f \"$HAPROXY_CFG\" -p \"$HAPROXY_PID\""
    stop   = "pid=$(cat \"$HAPROXY_PID\" 2>/dev/null) || exit 0; kill $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.1; done; rm -f \"$HAPROXY_PID\""
    status = "pid=$(cat \"$HAPROXY_PID\" 2>/dev/null) || exit 3; kill -0 $pid 2>/dev/null || exit 3"
    env = {
      HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
      HAPROXY_PID = "/run/vigil-haproxy.pid"
    }
    monitor_interval = "2s"
  }
}
