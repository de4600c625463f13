# vigil with IPMI fencing: two resource nodes, each with a BMC, and a witness.
# The file is the same on lb1, lb2 and witness except for node_name. Relative
# paths are resolved against this file's directory (/etc/vigil).

node_name = "lb1" # lb2 on lb2, witness on witness
data_dir  = "/var/lib/vigil"
log_level = "info"

cluster {
  name            = "edge"
  gossip_key_file = "gossip.key" # vigil keygen -out /etc/vigil/gossip.key
  timing          = "fast"

  tls { # vigil tls ca create / vigil tls cert create -node lb1 ...
    ca_file   = "tls/ca.pem"
    cert_file = "tls/lb1.pem"
    key_file  = "tls/lb1-key.pem"
  }
}

node "lb1" {
  address   = "198.18.0.11:7300"
  heartbeat = "198.18.1.11:7301"
  # Level 1: vigil's own IPMI client; level 2, if it fails: fence_ipmilan
  # from Debian's fence-agents against the same BMC.
  fence = ["lb1-bmc", "lb1-ipmilan"]
  # Wait this long before fencing lb1. Only the leader fences, so with a
  # witness lb1 and lb2 never race to shoot each other; a delay simply
  # postpones lb1's fence (and so its failover) by that much.
  fence_delay = "500ms"
}

node "lb2" {
  address         = "198.18.0.12:7300"
  heartbeat       = "198.18.1.12:7301"
  fence           = ["lb2-bmc"]
  fence_delay_max = "1s" # plus a random delay in [0, 1s)
}

node "witness" {
  address   = "198.18.0.13:7300"
  heartbeat = "198.18.1.13:7301"
  witness   = true
}

fence "ipmi" "lb1-bmc" {
  host          = "198.18.1.201"
  username      = "admin"
  password_file = "lb1.ipmi" # mode 0600; the file holds the password only
  cipher_suite  = "3"        # ipmitool -C; 17 on newer BMCs
  timeout       = "10s"      # one attempt, including the power-off confirmation
  retries       = 1
  # action      = "reboot"   # power the node on again once its fence is committed (default "off": it stays off)
}

fence "exec" "lb1-ipmilan" {
  agent         = "/usr/sbin/fence_ipmilan"
  params        = { ip = "198.18.1.201", username = "admin", lanplus = "1", cipher = "3" }
  password_file = "lb1.ipmi"
  timeout       = "30s"
}

fence "ipmi" "lb2-bmc" {
  host          = "198.18.1.202"
  username      = "admin"
  password_file = "lb2.ipmi"
  cipher_suite  = "3"
  timeout       = "10s"
  retries       = 1
}

group "vip" {
  prefer   = "lb1"
  failback = false

  resource "ipaddr" "vip" {
    address   = "198.18.0.100/24"
    interface = "eth0"
  }

  resource "systemd" "haproxy" {
    unit = "haproxy.service"
  }
}
