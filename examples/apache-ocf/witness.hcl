# vigil: what is particular to witness. Install as /etc/vigil/witness.hcl on witness only,
# next to cluster.hcl.
node_name = "witness"

cluster {
  tls {
    ca_file   = "/etc/vigil/tls/ca.pem"
    cert_file = "/etc/vigil/tls/witness.pem"
    key_file  = "/etc/vigil/tls/witness-key.pem"
  }
}
