package consensus

import (
	"bufio"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// Request types of raft's NetworkTransport wire format (net_transport.go):
// one type byte, then the msgpack-encoded request; an InstallSnapshot
// request is followed by Size bytes of snapshot data.
const (
	rpcAppendEntries uint8 = iota
	rpcRequestVote
	rpcInstallSnapshot
	rpcTimeoutNow
	rpcRequestPreVote
)

// raftGuard binds an inbound raft connection to the node its certificate
// names: every request must claim that node's id and cluster address in its
// header, or the connection is closed before raft sees the request. Raft
// trusts the header to learn who leads and who asks for votes, so without
// this a certificate of lb2 could speak as lb1.
//
// It decodes each request from the connection, checks it, and hands raft the
// exact bytes it read. Writes (responses) go straight through.
type raftGuard struct {
	net.Conn
	in      *recorder
	dec     *codec.Decoder
	node    string
	addr    string
	pending []byte // checked bytes raft has not read yet
	raw     int64  // snapshot bytes that follow the pending request
	onBad   func(error)
}

func newRaftGuard(c net.Conn, node, addr string, onBad func(error)) *raftGuard {
	in := &recorder{br: bufio.NewReaderSize(c, 64<<10)}
	return &raftGuard{Conn: c, in: in, dec: codec.NewDecoder(in, &codec.MsgpackHandle{}),
		node: node, addr: addr, onBad: onBad}
}

func (g *raftGuard) Read(p []byte) (int, error) {
	if len(g.pending) == 0 {
		if g.raw > 0 {
			n, err := g.in.br.Read(p[:min(int64(len(p)), g.raw)])
			g.raw -= int64(n)
			return n, err
		}
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// next reads and checks one request.
func (g *raftGuard) next() error {
	g.in.rec = g.in.rec[:0]
	t, err := g.in.ReadByte()
	if err != nil {
		return err
	}
	var hdr raft.RPCHeader
	var legacy []byte // the deprecated Leader/Candidate address field
	var size int64
	switch t {
	case rpcAppendEntries:
		var req raft.AppendEntriesRequest
		err = g.dec.Decode(&req)
		//lint:ignore SA1019 raft still reads the deprecated field, so it is checked too
		hdr, legacy = req.RPCHeader, req.Leader
	case rpcRequestVote:
		var req raft.RequestVoteRequest
		err = g.dec.Decode(&req)
		//lint:ignore SA1019 raft still reads the deprecated field, so it is checked too
		hdr, legacy = req.RPCHeader, req.Candidate
	case rpcInstallSnapshot:
		var req raft.InstallSnapshotRequest
		err = g.dec.Decode(&req)
		hdr, legacy, size = req.RPCHeader, req.Leader, req.Size
	case rpcTimeoutNow:
		var req raft.TimeoutNowRequest
		err = g.dec.Decode(&req)
		hdr = req.RPCHeader
	case rpcRequestPreVote:
		var req raft.RequestPreVoteRequest
		err = g.dec.Decode(&req)
		hdr = req.RPCHeader
	default:
		err = fmt.Errorf("unknown raft request type %d", t)
	}
	if err != nil {
		return g.bad(fmt.Errorf("raft request from %s: %w", g.node, err))
	}
	if string(hdr.ID) != g.node || string(hdr.Addr) != g.addr || (len(legacy) > 0 && string(legacy) != g.addr) {
		return g.bad(fmt.Errorf("%s presents a certificate for %s but claims to be %q at %q in a raft request",
			g.Conn.RemoteAddr(), g.node, hdr.ID, hdr.Addr))
	}
	if size < 0 {
		return g.bad(fmt.Errorf("raft snapshot from %s has negative size", g.node))
	}
	g.pending = append(g.pending[:0], g.in.rec...)
	g.raw = size
	return nil
}

// bad reports err (rate limited, by onBad), closes the connection and ends
// raft's stream with a clean EOF at a request boundary, so that raft does
// not log every refused request itself.
func (g *raftGuard) bad(err error) error {
	if g.onBad != nil {
		g.onBad(err)
	}
	_ = g.Conn.Close()
	return io.EOF
}

// recorder is the decoder's byte source: it keeps every byte consumed from
// br so that exactly those bytes can be replayed to raft.
type recorder struct {
	br  *bufio.Reader
	rec []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.rec = append(r.rec, p[:n]...)
	return n, err
}

func (r *recorder) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.rec = append(r.rec, b)
	}
	return b, err
}

func (r *recorder) UnreadByte() error {
	if err := r.br.UnreadByte(); err != nil {
		return err
	}
	r.rec = r.rec[:len(r.rec)-1]
	return nil
}
