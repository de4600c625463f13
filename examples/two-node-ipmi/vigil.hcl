# vigil on a pair of load balancers with IPMI fencing and no third machine
# (two_node). The file is the same on lb1 and lb2 except for node_name and the
# TLS file names. Relative paths are resolved against this file's directory
# (/etc/vigil).

node_name = "lb1" # lb2 on lb2
data_dir  = "/var/lib/vigil"
log_level = "info"

cluster {
  name            = "edge"
  gossip_key_file = "gossip.key" # vigil keygen -out /etc/vigil/gossip.key
  timing          = "fast"

  # Two voters, no witness: when a node loses its peer on both links it
  # fences it, and continues alone only once the BMC confirmed the power off.
  two_node = true
  # A node that boots runs nothing until it has seen its peer once
  # (default). Set false only to start a node alone on purpose: it then
  # fences the absent peer and runs the groups.
  wait_for_all = true
  # Fencing the node that runs the groups waits this much longer, so that
  # when only the cable between the two is cut the active node wins. Longer
  # than one fence takes (an IPMI power-off is typically 1-3 s).
  priority_fence_delay = "5s"

  tls { # vigil tls ca create / vigil tls cert create -node lb1 ...
    ca_file   = "tls/ca.pem"
    cert_file = "tls/lb1.pem"
    key_file  = "tls/lb1-key.pem"
  }
}

node "lb1" {
  address   = "198.18.0.11:7300" # cluster link
  heartbeat = "198.18.1.11:7301" # dedicated heartbeat link (crossover cable)
  fence     = ["lb1-bmc"]        # two_node needs a fence device for every node
}

node "lb2" {
  address   = "198.18.0.12:7300"
  heartbeat = "198.18.1.12:7301"
  fence     = ["lb2-bmc"]
  # When neither node holds a group, a random delay keeps the two from
  # shooting each other at the same instant.
  fence_delay_max = "2s"
}

# Each BMC must be reachable from the other node over a path that does not
# depend on the link between the two (here: the heartbeat network's switch).
fence "ipmi" "lb1-bmc" {
  host          = "198.18.1.201"
  username      = "admin"
  password_file = "lb1.ipmi" # mode 0600; the file holds the password only
  cipher_suite  = "17"
  timeout       = "10s" # one attempt, including the power-off confirmation
  retries       = 1
}

fence "ipmi" "lb2-bmc" {
  host          = "198.18.1.202"
  username      = "admin"
  password_file = "lb2.ipmi"
  cipher_suite  = "17"
  timeout       = "10s"
  retries       = 1
}

group "web" {
  prefer   = "lb1"
  failback = false # a fenced node that returns does not take the service back

  resource "ipaddr" "vip" {
    address   = "198.18.0.100/24"
    interface = "eth0"
  }

  resource "systemd" "haproxy" {
    unit = "haproxy.service"
  }

  check "http" "site" {
    url      = "http://127.0.0.1/health"
    interval = "1s"
    timeout  = "500ms"
    fall     = 3
    rise     = 2
  }
}
