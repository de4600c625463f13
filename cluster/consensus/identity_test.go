package consensus

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

// loadCert loads the certificate CreateCert wrote for name in the PKI dir.
func (p testPKI) load(t testing.TB, file string) *tls.Config {
	t.Helper()
	conf, err := tlsutil.Load(p.caCert, filepath.Join(p.dir, file+".pem"), filepath.Join(p.dir, file+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// steadyCluster is a 3-node TLS cluster with the lan timing preset: these
// tests assert that an attack changes no term, and the fast preset can hold
// an election of its own on a loaded machine (go test -race).
func steadyCluster(t *testing.T) ([]*running, testPKI) {
	t.Helper()
	lan, _ := configs.TimingPreset("lan")
	pki := newTestPKI(t)
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: nodeName(i), Address: a})
	}
	var nodes []*running
	for i := range 3 {
		nodes = append(nodes, start(t, Config{NodeID: nodeName(i), BindAddr: addrs[i], InMem: true,
			TLS: pki.config(t, nodeName(i)), Peers: peers, Timing: lan}))
	}
	return nodes, pki
}

// legacyLeader is an AppendEntries whose header is honest but whose
// deprecated Leader field (which raft still reads) names another node.
func legacyLeader(id, addr, claimed string, term uint64) *raft.AppendEntriesRequest {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte(id), Addr: []byte(addr)}, Term: term}
	//lint:ignore SA1019 the deprecated field is what this forgery sets
	req.Leader = []byte(claimed)
	return req
}

// sendRaft writes one raft request in NetworkTransport's wire format.
func sendRaft(t *testing.T, c net.Conn, typ uint8, req any) {
	t.Helper()
	w := bufio.NewWriter(c)
	_ = w.WriteByte(typ)
	if err := codec.NewEncoder(w, &codec.MsgpackHandle{}).Encode(req); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
}

// TestRaftImpersonationRefused: a configured node's certificate speaking as
// another node on the raft port, at a term that would depose the leader,
// is cut off before raft sees the request: no term change, no leader
// change. Certificates of non-configured nodes and operator certificates
// are refused at the handshake.
func TestRaftImpersonationRefused(t *testing.T) {
	nodes, pki := steadyCluster(t)
	leader := leaderOf(t, nodes, 20*time.Second)
	f := others(nodes, leader)
	term := leader.node.Term()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// f[1]'s certificate, claiming to be f[0].
	thief := pki.load(t, f[1].id)
	forged := []struct {
		typ uint8
		req any
	}{
		{rpcAppendEntries, &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3,
			ID: []byte(f[0].id), Addr: []byte(f[0].cfg.BindAddr)}, Term: term + 1000}},
		{rpcRequestVote, &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3,
			ID: []byte("intruder"), Addr: []byte("198.18.0.66:7300")}, Term: term + 1000, LastLogIndex: 1 << 40, LastLogTerm: term + 999}},
		{rpcTimeoutNow, &raft.TimeoutNowRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3,
			ID: []byte(f[1].id), Addr: []byte("10.9.9.9:1")}}}, // right id, wrong address
		{rpcAppendEntries, legacyLeader(f[1].id, f[1].cfg.BindAddr, f[0].cfg.BindAddr, term+1000)},
	}
	for i, fr := range forged {
		c, err := dial(ctx, leader.cfg.BindAddr, leader.id, thief, protoRaft)
		if err != nil {
			t.Fatalf("forgery %d: dial: %v", i, err)
		}
		sendRaft(t, c, fr.typ, fr.req)
		if !closedByPeer(c, 5*time.Second) {
			t.Errorf("forgery %d: raft connection not closed", i)
		}
		c.Close()
	}
	errs := leader.node.PeerErrors()
	if e := errs[f[1].id]; !strings.Contains(e.Error, "claims to be") {
		t.Errorf("leader's peer errors for %s: %+v", f[1].id, errs)
	}

	// Certificates the CA signed that are not configured nodes.
	intruder := pki.config(t, "intruder")
	if _, _, err := tlsutil.CreateOperatorCert(pki.caCert, pki.caKey, pki.dir, "alice"); err != nil {
		t.Fatal(err)
	}
	alice := pki.load(t, "operator-alice")
	for name, conf := range map[string]*tls.Config{"intruder": intruder, "operator alice": alice} {
		for _, proto := range []byte{protoRaft, protoRPC} {
			c, err := dial(ctx, leader.cfg.BindAddr, leader.id, conf, proto)
			if err == nil {
				if !closedByPeer(c, 5*time.Second) {
					t.Errorf("%s accepted on the cluster port (protocol %d)", name, proto)
				}
				c.Close()
			}
		}
	}

	// Nothing changed: same leader, same term, and it still commits.
	if !leader.node.IsLeader() || leader.node.Term() != term {
		t.Fatalf("leader %s lost office or term moved: leader=%v term %d -> %d", leader.id, leader.node.IsLeader(), term, leader.node.Term())
	}
	if _, err := leader.node.Apply([]byte("after-forgeries"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, nodes, "after-forgeries")
	for _, n := range nodes {
		if n.node.Term() != term {
			t.Errorf("%s term %d, want %d", n.id, n.node.Term(), term)
		}
	}
}

// TestIdleConnectionFlood: hundreds of silent connections from a stranger's
// address cannot take the handshake slots the peers need; the cluster keeps
// its leader and term and a peer's new RPC connection still gets through.
func TestIdleConnectionFlood(t *testing.T) {
	nodes, _ := steadyCluster(t)
	leader := leaderOf(t, nodes, 20*time.Second)
	term := leader.node.Term()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: time.Second}
	var conns []net.Conn
	for range 300 {
		c, err := d.Dial("tcp", leader.cfg.BindAddr)
		if err != nil {
			break // the backlog is full: also a refusal
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	shed := 0
	for _, c := range conns {
		if closedByPeer(c, 20*time.Millisecond) {
			shed++
		}
	}
	if held := len(conns) - shed; held > maxHandshakesPerHost {
		t.Errorf("%d silent connections held from one stranger address, limit %d", held, maxHandshakesPerHost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peer := others(nodes, leader)[0]
	c, err := DialRPC(ctx, leader.cfg.BindAddr, leader.id, peer.cfg.TLS)
	if err != nil {
		t.Fatalf("peer RPC during the flood: %v", err)
	}
	c.Close()
	if _, err := leader.node.Apply([]byte("during-flood"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, nodes, "during-flood")
	if !leader.node.IsLeader() || leader.node.Term() != term {
		t.Fatalf("flood moved leadership or term (%d -> %d)", term, leader.node.Term())
	}
}

// TestWrongCertificateShowsAsPeerError: a node started with a certificate
// from another CA (but trusting the cluster CA) cannot join; the node itself
// records that its peers refuse its certificate, and the peers record that
// it presents a certificate from another CA.
func TestWrongCertificateShowsAsPeerError(t *testing.T) {
	lan, _ := configs.TimingPreset("lan")
	pki := newTestPKI(t)
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: nodeName(i), Address: a})
	}
	var nodes []*running
	for i := range 2 {
		nodes = append(nodes, start(t, Config{NodeID: nodeName(i), BindAddr: addrs[i], InMem: true,
			TLS: pki.config(t, nodeName(i)), Peers: peers, Timing: lan}))
	}
	wrong := newTestPKI(t).config(t, nodeName(2))
	wrong.RootCAs = nodes[0].cfg.TLS.RootCAs
	wrong.ClientCAs = nodes[0].cfg.TLS.ClientCAs
	n3 := start(t, Config{NodeID: nodeName(2), BindAddr: addrs[2], InMem: true, TLS: wrong, Peers: peers, Timing: lan})
	leader := leaderOf(t, nodes, 20*time.Second)
	waitFor(t, 20*time.Second, "n3 to record that its peers refuse its certificate", func() bool {
		for _, e := range n3.node.PeerErrors() {
			if strings.Contains(e.Error, "refuses this node's certificate") {
				return true
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "the leader to record n3's foreign certificate", func() bool {
		return strings.Contains(leader.node.PeerErrors()["n3"].Error, "n3 presents a certificate from another CA")
	})
}
