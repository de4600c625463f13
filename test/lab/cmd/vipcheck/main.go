// Command vipcheck tells, for many floating addresses at once, which node
// answers each of them, over UDP (cheap enough to ask 256 addresses every
// few milliseconds).
//
//	vipcheck serve -port P -name N
//	    answers every datagram to any local address on port P with N,
//	    sent from the address it was sent to
//	vipcheck probe -port P -first A -count C -interval D [-retry R]
//	    sends a datagram to each of the C addresses from A on every D, and
//	    every R to one whose last datagram is not answered yet, and prints
//	    "UNIXNANO ADDRESS NAME" whenever the answer from an address changes
//	    ("-" once it has not answered for 5 intervals). The retry keeps the
//	    moment an address comes back within R of the truth (it was up to D
//	    late, 20 ms in BenchmarkManyAddresses) without asking all of them
//	    that often.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/ipv4"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vipcheck serve|probe [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	port := fs.Int("port", 7999, "UDP port")
	name := fs.String("name", "", "serve: the answer")
	first := fs.String("first", "", "probe: first address")
	count := fs.Int("count", 1, "probe: number of consecutive addresses")
	every := fs.Duration("interval", 5*time.Millisecond, "probe: time between rounds")
	retry := fs.Duration("retry", 2*time.Millisecond, "probe: time between datagrams to an address that has not answered the last one")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*port, *name)
	case "probe":
		r := *retry
		if r <= 0 || r > *every {
			r = *every // no retries between rounds
		}
		err = probe(*port, *first, *count, *every, r)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vipcheck:", err)
		os.Exit(1)
	}
}

func serve(port int, name string) error {
	c, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return err
	}
	p := ipv4.NewPacketConn(c)
	if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
		return err
	}
	buf := make([]byte, 64)
	for {
		_, cm, from, err := p.ReadFrom(buf)
		if err != nil {
			return err
		}
		var out *ipv4.ControlMessage
		if cm != nil {
			out = &ipv4.ControlMessage{Src: cm.Dst}
		}
		_, _ = p.WriteTo([]byte(name), out, from)
	}
}

func probe(port int, first string, count int, every, retry time.Duration) error {
	a, err := netip.ParseAddr(first)
	if err != nil {
		return err
	}
	targets := make([]*net.UDPAddr, count)
	index := map[netip.Addr]int{}
	for i := range targets {
		targets[i] = net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port)))
		index[a] = i
		a = a.Next()
	}
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return err
	}
	// Room for every address's answers to several rounds: a dropped answer
	// would read as an address that does not answer.
	_ = c.SetReadBuffer(4 << 20)
	type seen struct {
		name     string
		at       time.Time // last answer
		sent     time.Time // last datagram
		answered bool      // the last datagram was answered
	}
	cur := make([]seen, count)
	answers := make(chan struct {
		i    int
		name string
		at   time.Time
	}, 4096)
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				close(answers)
				return
			}
			if i, ok := index[from.Addr()]; ok {
				answers <- struct {
					i    int
					name string
					at   time.Time
				}{i, string(buf[:n]), time.Now()}
			}
		}
	}()
	emit := func(i int, name string, at time.Time) {
		if cur[i].name != name {
			fmt.Printf("%d %s %s\n", at.UnixNano(), targets[i].IP, name)
		}
		cur[i].name = name
	}
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		now := time.Now()
		for i, dst := range targets {
			if age := now.Sub(cur[i].sent); age >= every || (!cur[i].answered && age >= retry) {
				_, _ = c.WriteToUDP([]byte{0}, dst)
				cur[i].sent, cur[i].answered = now, false
			}
		}
	drain:
		for {
			select {
			case ans, ok := <-answers:
				if !ok {
					return nil
				}
				emit(ans.i, ans.name, ans.at)
				cur[ans.i].at, cur[ans.i].answered = ans.at, true
			case <-t.C:
				break drain
			}
		}
		// After the answers that came meanwhile: one that waited in the
		// channel is not a silence.
		now = time.Now()
		for i := range cur {
			if cur[i].name != "-" && now.Sub(cur[i].at) > 5*every {
				emit(i, "-", now)
			}
		}
	}
}
