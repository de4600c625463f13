# vigil: apache behind a floating IP, run by the ClusterLabs OCF agent
# ocf:heartbeat:apache (Debian package resource-agents). Shared part: the
# same file goes to www1, www2 and witness as /etc/vigil/cluster.hcl, next to
# the machine's own node file (www1.hcl, www2.hcl or witness.hcl). See README.md.

data_dir  = "/var/lib/vigil"
log_level = "info"

cluster {
  name            = "www"
  gossip_key_file = "/etc/vigil/gossip.key"
  timing          = "fast"
}

node "www1" {
  address   = "198.18.0.11:7300"
  heartbeat = "198.18.1.11:7301"
}

node "www2" {
  address   = "198.18.0.12:7300"
  heartbeat = "198.18.1.12:7301"
}

node "witness" {
  address   = "198.18.0.13:7300"
  heartbeat = "198.18.1.13:7301"
  witness   = true
}

group "site" {
  prefer              = "www1"
  failback            = false
  migration_threshold = 3
  failure_timeout     = "10m"

  resource "ipaddr" "vip" {
    address   = "198.18.0.100/24"
    interface = "eth0"
  }

  # The OCF agent starts apache2 with -f configfile, stops it gracefully, and
  # monitors it by fetching statusurl and matching testregex. It sources
  # /etc/apache2/envvars (its envfiles default), which the stock Debian
  # config needs.
  resource "ocf" "apache" {
    agent            = "heartbeat:apache"
    params           = { configfile = "/etc/apache2/apache2.conf", statusurl = "http://127.0.0.1/server-status?auto", testregex = "Total Accesses" }
    monitor_interval = "5s"
    start_timeout    = "40s"
    stop_timeout     = "60s"
  }
}
