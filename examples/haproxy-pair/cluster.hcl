# vigil: the haproxy pair, shared part. The same file goes to lb1, lb2 and
# witness as /etc/vigil/cluster.hcl; next to it each machine has its own
# node file (lb1.hcl, lb2.hcl or witness.hcl). `vigil agent -config /etc/vigil`
# reads every *.hcl file of the directory. See README.md.

data_dir  = "/var/lib/vigil"
log_level = "info"

cluster {
  name            = "edge"
  gossip_key_file = "/etc/vigil/gossip.key" # vigil keygen -out /etc/vigil/gossip.key
  timing          = "fast"                  # dedicated heartbeat link: detection well under a second
  # bind and heartbeat default to this node's address and heartbeat below.
}

# eth0 (198.18.0.0/24): the public network, where the VIP lives; it also
# carries the cluster link (raft, mutual TLS).
# eth1 (198.18.1.0/24): the dedicated heartbeat link (memberlist, AES-GCM).
node "lb1" {
  address   = "198.18.0.11:7300"
  heartbeat = "198.18.1.11:7301"
}

node "lb2" {
  address   = "198.18.0.12:7300"
  heartbeat = "198.18.1.12:7301"
}

node "witness" {
  address   = "198.18.0.13:7300"
  heartbeat = "198.18.1.13:7301"
  witness   = true # votes, never runs haproxy or holds the VIP
}

# The load-balancer service: the VIP first, then haproxy. They start in this
# order and stop in reverse, always together on one node.
group "web" {
  prefer              = "lb1"
  failback            = false # after lb1 returns, stay on lb2 (no second interruption)
  migration_threshold = 3     # haproxy is restarted in place twice; the third failure moves the group
  failure_timeout     = "10m" # failures older than this are forgotten

  resource "ipaddr" "vip" {
    address          = "198.18.0.100/24"
    interface        = "eth0"
    monitor_interval = "2s"
  }

  resource "exec" "haproxy" {
    start            = "/etc/vigil/haproxy-ctl start"
    stop             = "/etc/vigil/haproxy-ctl stop"
    status           = "/etc/vigil/haproxy-ctl status"
    env              = { HAPROXY_CFG = "/etc/haproxy/haproxy.cfg", HAPROXY_PID = "/run/vigil-haproxy.pid" }
    monitor_interval = "1s"
    start_timeout    = "10s"
    stop_timeout     = "10s"
  }
}

# Fencing (recommended): with a BMC per load balancer, a node that stops
# answering is powered off before its VIP moves, so two holders are
# impossible even when the node is only half dead. Without fencing, vigil
# waits for the lost node's lease (0.3 s with timing "fast") to run out.
#
# fence "ipmi" "lb1-bmc" {
#   host          = "198.18.1.201"
#   username      = "admin"
#   password_file = "/etc/vigil/lb1.ipmi" # mode 0600
#   cipher_suite  = "3"
# }
# fence "ipmi" "lb2-bmc" {
#   host          = "198.18.1.202"
#   username      = "admin"
#   password_file = "/etc/vigil/lb2.ipmi"
#   cipher_suite  = "3"
# }
# ...and in node "lb1": fence = ["lb1-bmc"]; in node "lb2": fence = ["lb2-bmc"].
