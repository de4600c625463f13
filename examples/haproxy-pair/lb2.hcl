# vigil: what is particular to lb2. Install as /etc/vigil/lb2.hcl on lb2 only,
# next to cluster.hcl.
node_name = "lb2"

cluster {
  tls { # made by `vigil tls cert create -node lb2 ...` (see README.md)
    ca_file   = "/etc/vigil/tls/ca.pem"
    cert_file = "/etc/vigil/tls/lb2.pem"
    key_file  = "/etc/vigil/tls/lb2-key.pem"
  }
}
