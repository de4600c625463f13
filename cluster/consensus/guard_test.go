package consensus

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// byteConn is a read-only net.Conn over a byte slice.
type byteConn struct {
	io.Reader
	closed bool
}

func (c *byteConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *byteConn) Close() error                     { c.closed = true; return nil }
func (c *byteConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *byteConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *byteConn) SetDeadline(time.Time) error      { return nil }
func (c *byteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *byteConn) SetWriteDeadline(time.Time) error { return nil }

func encodeRaft(typ uint8, req any) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	_ = w.WriteByte(typ)
	_ = codec.NewEncoder(w, &codec.MsgpackHandle{}).Encode(req)
	_ = w.Flush()
	return b.Bytes()
}

func hdr(id, addr string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: 3, ID: []byte(id), Addr: []byte(addr)}
}

// TestRaftGuardReplaysExactBytes: honest requests (including a snapshot
// with its data) reach raft byte for byte; the first dishonest one ends
// the stream.
func TestRaftGuardReplaysExactBytes(t *testing.T) {
	var in bytes.Buffer
	in.Write(encodeRaft(rpcAppendEntries, &raft.AppendEntriesRequest{RPCHeader: hdr("n2", "10.0.0.2:7300"), Term: 5,
		Entries: []*raft.Log{{Index: 1, Term: 5, Data: []byte("hello")}}}))
	in.Write(encodeRaft(rpcInstallSnapshot, &raft.InstallSnapshotRequest{RPCHeader: hdr("n2", "10.0.0.2:7300"), Term: 5, Size: 7}))
	in.WriteString("SNAPSHT")
	in.Write(encodeRaft(rpcRequestVote, &raft.RequestVoteRequest{RPCHeader: hdr("n2", "10.0.0.2:7300"), Term: 6}))
	honest := in.Len()
	in.Write(encodeRaft(rpcAppendEntries, &raft.AppendEntriesRequest{RPCHeader: hdr("n1", "10.0.0.1:7300"), Term: 99}))
	in.Write(encodeRaft(rpcTimeoutNow, &raft.TimeoutNowRequest{RPCHeader: hdr("n2", "10.0.0.2:7300")}))
	src := append([]byte(nil), in.Bytes()...)

	c := &byteConn{Reader: bytes.NewReader(src)}
	var bad error
	g := newRaftGuard(c, "n2", "10.0.0.2:7300", func(err error) { bad = err })
	out, _ := io.ReadAll(io.LimitReader(g, 1<<20))
	if bad == nil || !c.closed {
		t.Fatalf("impersonation not stopped: bad %v, closed %v", bad, c.closed)
	}
	if !bytes.Equal(out, src[:honest]) {
		t.Fatalf("raft got %d bytes, want the %d honest bytes exactly", len(out), honest)
	}
}

// FuzzRaftGuard: whatever arrives on a raft connection, the guard never
// panics, passes only a prefix of what it read, and every request it passes
// claims the certificate's node.
func FuzzRaftGuard(f *testing.F) {
	f.Add(encodeRaft(rpcAppendEntries, &raft.AppendEntriesRequest{RPCHeader: hdr("n2", "a:1"), Term: 1}))
	f.Add(encodeRaft(rpcRequestVote, &raft.RequestVoteRequest{RPCHeader: hdr("n1", "a:1"), Term: 1}))
	f.Add(encodeRaft(rpcInstallSnapshot, &raft.InstallSnapshotRequest{RPCHeader: hdr("n2", "a:1"), Size: -1}))
	f.Add(encodeRaft(rpcRequestPreVote, &raft.RequestPreVoteRequest{RPCHeader: hdr("n2", "a:1")}))
	f.Add([]byte{7, 0xde, 0xad})
	f.Add([]byte{0, 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newRaftGuard(&byteConn{Reader: bytes.NewReader(data)}, "n2", "a:1", nil)
		out, _ := io.ReadAll(io.LimitReader(g, 1<<20))
		if !bytes.HasPrefix(data, out) {
			t.Fatal("guard passed bytes it did not read")
		}
		if len(out) == 0 || out[0] > rpcRequestPreVote {
			return
		}
		// Decode the first passed request as raft would.
		dec := codec.NewDecoder(bytes.NewReader(out[1:]), &codec.MsgpackHandle{})
		var h struct{ RPCHeader raft.RPCHeader }
		if err := dec.Decode(&h); err == nil && len(h.RPCHeader.ID) > 0 && string(h.RPCHeader.ID) != "n2" {
			t.Fatalf("passed a request claiming %q", h.RPCHeader.ID)
		}
	})
}
