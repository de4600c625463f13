# vigil: what is particular to lb1. Install as /etc/vigil/lb1.hcl on lb1 only,
# next to cluster.hcl.
node_name = "lb1"

cluster {
  tls { # made by `vigil tls cert create -node lb1 ...` (see README.md)
    ca_file   = "/etc/vigil/tls/ca.pem"
    cert_file = "/etc/vigil/tls/lb1.pem"
    key_file  = "/etc/vigil/tls/lb1-key.pem"
  }
}
