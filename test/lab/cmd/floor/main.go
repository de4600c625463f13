// Command floor is the smallest Go failure detector there is, to measure
// what its wake-ups cost on a machine (BenchmarkIdleFloor): one UDP
// datagram to each peer every 1/hz second and a goroutine reading the
// answers (-role ask), a peer that echoes each datagram (-role answer), or
// the ticker alone (-role timer). No encryption, no decoding, no state.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	role := flag.String("role", "ask", "ask, answer or timer")
	hz := flag.Int("hz", 20, "datagrams (or ticks) a second, to each peer (ask, timer)")
	to := flag.String("to", "", "peers' host:port, comma-separated (ask)")
	listen := flag.String("listen", ":7999", "address to answer on (answer)")
	flag.Parse()
	fmt.Fprintln(os.Stderr, "floor:", run(*role, *hz, *to, *listen))
	os.Exit(1)
}

// run returns only on an error: each role runs until killed.
func run(role string, hz int, to, listen string) error {
	if hz <= 0 {
		return fmt.Errorf("-hz %d: must be positive", hz)
	}
	switch role {
	case "answer":
		c, err := net.ListenPacket("udp", listen)
		if err != nil {
			return err
		}
		b := make([]byte, 64)
		for {
			n, from, err := c.ReadFrom(b)
			if err != nil {
				return err
			}
			_, _ = c.WriteTo(b[:n], from)
		}
	case "timer":
		for range time.Tick(time.Second / time.Duration(hz)) {
		}
	case "ask":
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			return err
		}
		var peers []net.Addr
		for _, p := range strings.Split(to, ",") {
			a, err := net.ResolveUDPAddr("udp", p)
			if err != nil {
				return fmt.Errorf("-to %q: %w", p, err)
			}
			peers = append(peers, a)
		}
		go func() {
			b := make([]byte, 64)
			for {
				if _, _, err := c.ReadFrom(b); err != nil {
					return
				}
			}
		}()
		for range time.Tick(time.Second / time.Duration(hz)) {
			for _, p := range peers {
				_, _ = c.WriteTo([]byte{'?'}, p)
			}
		}
	}
	return fmt.Errorf("-role %q: use ask, answer or timer", role)
}
