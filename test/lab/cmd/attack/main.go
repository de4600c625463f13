// Command attack is the lab's hostile client: it forges writes and raft
// requests on a vigil cluster port with whatever certificate it is given,
// and floods ports with garbage or idle connections. It prints one verdict
// line per attack for the test to check.
//
//	attack apply ADDR SERVER CA CERT KEY TYPE JSON   -> "status 403" | "refused: ..."
//	attack big ADDR SERVER CA CERT KEY BYTES         -> "status 413" | "refused: ..."
//	attack raft ADDR SERVER CA CERT KEY ID CLAIMADDR TERM -> "closed" | "open"
//	attack udp ADDR COUNT                            -> "sent N"
//	attack idle ADDR COUNT HOLD                      -> "held N of M"
//	attack garbage ADDR COUNT                        -> "sent N"
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"github.com/vigil-ha/vigil/cluster/tlsutil"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: see the package comment")
	}
	a := os.Args[2:]
	switch os.Args[1] {
	case "apply":
		t, _ := strconv.Atoi(a[5])
		post(a[0], a[1], load(a[2], a[3], a[4]), append([]byte{byte(t)}, a[6]...))
	case "big":
		n, _ := strconv.Atoi(a[5])
		post(a[0], a[1], load(a[2], a[3], a[4]), bytes.Repeat([]byte("x"), n))
	case "raft":
		term, _ := strconv.ParseUint(a[7], 10, 64)
		forgeRaft(a[0], a[1], load(a[2], a[3], a[4]), a[5], a[6], term)
	case "udp":
		n, _ := strconv.Atoi(a[1])
		c, err := net.Dial("udp", a[0])
		if err != nil {
			fail(err.Error())
		}
		buf := bytes.Repeat([]byte("garbage!"), 32)
		for i := range n {
			buf[0] = byte(i)
			_, _ = c.Write(buf)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		fmt.Println("sent", n)
	case "idle":
		n, _ := strconv.Atoi(a[1])
		hold, _ := time.ParseDuration(a[2])
		var conns []net.Conn
		for range n {
			c, err := net.DialTimeout("tcp", a[0], time.Second)
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		time.Sleep(hold)
		open := 0
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					open++
				}
			}
			c.Close()
		}
		fmt.Printf("held %d of %d\n", open, len(conns))
	case "garbage":
		n, _ := strconv.Atoi(a[1])
		sent := 0
		for i := range n {
			c, err := net.DialTimeout("tcp", a[0], time.Second)
			if err != nil {
				continue
			}
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(append([]byte{byte(i), 0x16, 0x03, 0x01}, bytes.Repeat([]byte{0xff}, 64)...))
			c.Close()
			sent++
		}
		fmt.Println("sent", sent)
	default:
		fail("unknown attack " + os.Args[1])
	}
}

func load(ca, cert, key string) *tls.Config {
	c, err := tlsutil.Load(ca, cert, key)
	if err != nil {
		fail(err.Error())
	}
	return c
}

// dial opens the cluster port like a node does: TLS, then the protocol byte.
func dial(addr, server string, conf *tls.Config, proto byte) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, tlsutil.DialNode(conf, server))
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{proto}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func post(addr, server string, conf *tls.Config, body []byte) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return dial(addr, server, conf, 0x02) }}}
	resp, err := hc.Post("http://"+server+"/v1/internal/apply", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	resp.Body.Close()
	fmt.Println("status", resp.StatusCode)
}

func forgeRaft(addr, server string, conf *tls.Config, id, claim string, term uint64) {
	c, err := dial(addr, server, conf, 0x01)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	_ = w.WriteByte(0) // AppendEntries
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte(id), Addr: []byte(claim)}, Term: term}
	if err := codec.NewEncoder(w, &codec.MsgpackHandle{}).Encode(req); err != nil {
		fail(err.Error())
	}
	_ = w.Flush()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 512))
	var ne net.Error
	switch {
	case err == nil:
		fmt.Println("answered") // raft processed the request
	case errors.As(err, &ne) && ne.Timeout():
		fmt.Println("open")
	default:
		fmt.Println("closed")
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "attack:", msg)
	os.Exit(2)
}
