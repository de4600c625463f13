package membership

import (
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"
)

// Three nodes on real UDP/TCP sockets: membership, meta propagation, crash
// detection, re-join after restart, and a graceful leave seen as "left".
func TestUDPClusterLifecycle(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2", "n3")
	n1, n2 := start(t, cfgs[0]), start(t, cfgs[1])
	n3 := start(t, cfgs[2])
	for _, n := range []*node{n1, n2, n3} {
		waitFor(t, n, 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
	}
	if mb, _ := n1.member("n3"); mb.Meta.Role != "node" || !mb.Meta.Health["web"] || mb.Addr != cfgs[2].BindAddr {
		t.Fatalf("n1 sees n3 as %+v", mb)
	}

	// Meta update propagates.
	n2.meta.set(func(m *Meta) { m.Standby = true; m.Health = map[string]bool{"web": false} })
	if err := n2.m.UpdateMeta(time.Second); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	for _, n := range []*node{n1, n3} {
		waitFor(t, n, 3*time.Second, "n2 standby", func(ms []Member) bool {
			for _, m := range ms {
				if m.Name == "n2" {
					return m.Meta.Standby && !m.Meta.Health["web"]
				}
			}
			return false
		})
	}

	// Crash n3: the others see it dead, and keep listing it.
	killed := time.Now()
	n3.kill(t)
	waitFor(t, n1, 5*time.Second, "n3 dead", stateIs("n3", StateDead))
	t.Logf("n1 saw n3 dead %v after the kill", time.Since(killed).Round(time.Millisecond))
	waitFor(t, n2, 5*time.Second, "n3 dead", stateIs("n3", StateDead))
	if mb, _ := n1.member("n3"); mb.Since.Before(killed) {
		t.Errorf("Since not updated on death: %v before kill %v", mb.Since, killed)
	}

	// Restart n3 on the same address: alive again everywhere.
	n3 = start(t, cfgs[2])
	for _, n := range []*node{n1, n2, n3} {
		waitFor(t, n, 5*time.Second, "all alive after restart", allAlive("n1", "n2", "n3"))
	}

	// Graceful stop is "left", not "dead".
	n3.stop(t)
	waitFor(t, n1, 5*time.Second, "n3 left", stateIs("n3", StateLeft))
	if mb, _ := n3.member("n3"); mb.State != StateLeft {
		t.Errorf("n3's own view of itself after stop: %+v", mb)
	}
}

// A dead peer that comes back is re-joined by the survivors' reconnect loop,
// even if it does not know about them itself.
func TestUDPRejoinByReconnectLoop(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2")
	n1, n2 := start(t, cfgs[0]), start(t, cfgs[1])
	waitFor(t, n1, 5*time.Second, "n2 alive", stateIs("n2", StateAlive))
	n2.kill(t)
	waitFor(t, n1, 5*time.Second, "n2 dead", stateIs("n2", StateDead))

	lonely := cfgs[1]
	lonely.Peers = nil // only n1's reconnect loop can bring them together
	n2 = start(t, lonely)
	waitFor(t, n1, 5*time.Second, "n2 alive again", stateIs("n2", StateAlive))
	waitFor(t, n2, 5*time.Second, "n1 alive", stateIs("n1", StateAlive))
}

// Nodes with the wrong key or label never join, in either direction.
func TestUDPWrongKeyOrLabelNeverJoins(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2", "badkey", "badlabel")
	n1, n2 := start(t, cfgs[0]), start(t, cfgs[1])
	bk := cfgs[2]
	bk.Key = []byte("fedcba9876543210fedcba9876543210")
	bl := cfgs[3]
	bl.Label = "other-cluster"
	badKey, badLabel := start(t, bk), start(t, bl)

	waitFor(t, n1, 5*time.Second, "n2 alive", stateIs("n2", StateAlive))
	time.Sleep(2 * time.Second) // several rejoin attempts by everyone
	for _, n := range []*node{n1, n2} {
		for _, mb := range n.m.Members() {
			if mb.Name == "badkey" || mb.Name == "badlabel" {
				t.Errorf("%s lists intruder %+v", n.name, mb)
			}
		}
	}
	for _, n := range []*node{badKey, badLabel} {
		if ms := n.m.Members(); len(ms) != 1 || ms[0].Name != n.name {
			t.Errorf("%s joined someone: %+v", n.name, ms)
		}
	}
}

// Garbage on the UDP and TCP ports crashes nothing and disturbs nobody.
func TestUDPGarbageIsHarmless(t *testing.T) {
	cfgs := udpCluster(t, "n1", "n2", "n3")
	n1, n2, n3 := start(t, cfgs[0]), start(t, cfgs[1]), start(t, cfgs[2])
	for _, n := range []*node{n1, n2, n3} {
		waitFor(t, n, 5*time.Second, "all alive", allAlive("n1", "n2", "n3"))
	}
	target := cfgs[0].BindAddr
	u, err := net.Dial("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	buf := make([]byte, 1400)
	for i := 0; i < 300; i++ {
		_, _ = rand.Read(buf[:1+i%len(buf)])
		buf[0] = byte(i) // every message type byte, including compound/encrypt/label
		_, _ = u.Write(buf[:1+i%len(buf)])
	}
	for i := 0; i < 30; i++ {
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			t.Fatalf("tcp dial %d: %v", i, err)
		}
		_, _ = rand.Read(buf)
		buf[0] = byte(i * 9)
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(buf[:1+i*40])
		if i%2 == 0 {
			_, _ = c.Write([]byte(strings.Repeat("\xff", 64)))
		}
		_ = c.Close()
	}

	// Still healthy: nobody went dead, and a meta update still propagates.
	time.Sleep(time.Second)
	n1.meta.set(func(m *Meta) { m.Standby = true })
	if err := n1.m.UpdateMeta(time.Second); err != nil {
		t.Fatalf("UpdateMeta after garbage: %v", err)
	}
	waitFor(t, n2, 3*time.Second, "n1 standby", func(ms []Member) bool {
		for _, m := range ms {
			if m.Name == "n1" {
				return m.Meta.Standby && m.State == StateAlive
			}
		}
		return false
	})
	for _, n := range []*node{n1, n2, n3} {
		for _, mb := range n.m.Members() {
			if mb.State == StateDead || mb.State == StateLeft {
				t.Errorf("%s sees %s %s after garbage", n.name, mb.Name, mb.State)
			}
		}
	}
}
