// Package consensus wraps hashicorp/raft for vigil: a bolt-backed log store,
// bootstrap from the configured voter set on first start only, a cluster
// port that carries raft and forwarded API calls over one mutual-TLS
// listener, and leadership signals (every transition, leader contact, and
// the leader's view of its peers) for the coordinator and the executor.
//
// # Pinned versions
//
// raft is pinned to v1.7.3 and raft-boltdb/v2 to v2.3.1 (with memberlist
// v0.6.0 elsewhere). raft v1.8.0 and memberlist v0.7.0 require go-metrics
// v0.7.0, which deletes the package go-metrics/compat, and every published
// raft-boltdb/v2 (and raft-wal) release still imports that package, so the
// newer raft does not build with any bolt store we can fetch. Move to raft
// v1.8+ only together with a raft-boltdb/v2 release that no longer imports
// go-metrics/compat (the comment in go.mod says the same).
//
// # Two-node clusters
//
// RecoverAlone rewrites a pair's configuration to this node alone after the
// caller confirmed the peer powered off (raft's recovery path on a stopped
// raft, then raft starts again on the same stores and transport); AddPeer
// adds the peer back as a non-voter and promotes it once it answers;
// RemovePeer takes a cleanly leaving peer out. See twonode.go and
// docs/design.md, "Two-node clusters".
//
// # Cluster port
//
// One TCP listener on Config.BindAddr, TLS 1.3 with client certificates when
// Config.TLS is set. The server accepts only node certificates of configured
// peers (tlsutil.AcceptNodes); a dialer accepts only the node certificate of
// the peer it meant to reach (tlsutil.DialNode). After the handshake the
// first byte picks the protocol: 0x01 raft, 0x02 RPC (handed to RPCListener,
// where cluster/rpc serves node-to-node calls). Anything else is closed. A
// raft connection passes through raftGuard (guard.go): every request must
// name the certificate's node in its header. Handshakes are bounded per
// remote address (limit.go), and each peer's last TLS or identity error is
// kept for the status screen (PeerErrors); log lines about refused
// connections are rate limited.
package consensus
