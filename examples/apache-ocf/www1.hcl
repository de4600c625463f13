# vigil: what is particular to www1. Install as /etc/vigil/www1.hcl on www1 only,
# next to cluster.hcl.
node_name = "www1"

cluster {
  tls {
    ca_file   = "/etc/vigil/tls/ca.pem"
    cert_file = "/etc/vigil/tls/www1.pem"
    key_file  = "/etc/vigil/tls/www1-key.pem"
  }
}
