# vigil: what is particular to www2. Install as /etc/vigil/www2.hcl on www2 only,
# next to cluster.hcl.
node_name = "www2"

cluster {
  tls {
    ca_file   = "/etc/vigil/tls/ca.pem"
    cert_file = "/etc/vigil/tls/www2.pem"
    key_file  = "/etc/vigil/tls/www2-key.pem"
  }
}
