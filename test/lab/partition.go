package lab

import (
	"fmt"
	"os/exec"
	"strings"
)

// The partition table lives in the switch namespace's bridge family, so
// frames are dropped between ports without any carrier change: the hosts
// see silence, as with a broken switch or a firewall.
const nftTable = "vlabpart"

// Partition drops all traffic between a and b on link (Pub or HB), both
// directions. With b == nil, a is cut off from every other port of the link.
// Partitions accumulate until Heal.
func (l *Lab) Partition(link string, a, b *Host) {
	l.tb.Helper()
	if b == nil {
		l.nft(isolation(link, a))
		return
	}
	pa, pb := a.port(link), b.port(link)
	l.nft([]string{
		fmt.Sprintf("iifname %q oifname %q drop", pa, pb),
		fmt.Sprintf("iifname %q oifname %q drop", pb, pa),
	})
}

// Isolate cuts each of hosts off from every other port of each link in one
// change of the switch's rules, as a switch that goes down drops them all at
// once (one Partition after the other takes some milliseconds each).
func (l *Lab) Isolate(links []string, hosts ...*Host) {
	l.tb.Helper()
	l.nft(isolations(links, hosts))
}

// isolation is the rules that cut h off from every other port of link.
func isolation(link string, h *Host) []string {
	p := h.port(link)
	return []string{fmt.Sprintf("iifname %q drop", p), fmt.Sprintf("oifname %q drop", p)}
}

// isolations is isolation for each of hosts on each of links.
func isolations(links []string, hosts []*Host) []string {
	var rules []string
	for _, link := range links {
		for _, h := range hosts {
			rules = append(rules, isolation(link, h)...)
		}
	}
	return rules
}

// PartitionOneWay drops frames from a to b on link only (b still reaches a).
func (l *Lab) PartitionOneWay(link string, from, to *Host) {
	l.tb.Helper()
	l.nft([]string{fmt.Sprintf("iifname %q oifname %q drop", from.port(link), to.port(link))})
}

// SwitchDown drops every frame to and from hosts on links, as Isolate does,
// in a chain of its own: up brings the switch back without healing the
// partitions made meanwhile (Heal ends both; up after Heal, or after
// another SwitchDown, does nothing).
func (l *Lab) SwitchDown(links []string, hosts ...*Host) (up func()) {
	l.tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addRules("sw", isolations(links, hosts))
	l.switchChain = true
	l.switchGen++
	gen := l.switchGen
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.switchGen == gen {
			l.nftRun("flush chain bridge " + nftTable + " sw\n")
		}
	}
}

// Heal removes every partition, and brings a switch down back.
func (l *Lab) Heal() {
	l.tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.nftable {
		return
	}
	script := "flush chain bridge " + nftTable + " part\n"
	if l.switchChain {
		script += "flush chain bridge " + nftTable + " sw\n"
	}
	l.switchGen++
	l.nftRun(script)
}

func (l *Lab) nft(rules []string) {
	l.tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addRules("part", rules)
}

// addRules appends rules to chain ("part", or another made here), making
// the table first. Callers hold l.mu.
func (l *Lab) addRules(chain string, rules []string) {
	l.tb.Helper()
	var script strings.Builder
	if !l.nftable {
		// The chain must not be called "fwd" (see lab-recipes.md).
		fmt.Fprintf(&script, "add table bridge %s\n", nftTable)
		fmt.Fprintf(&script, "add chain bridge %s part { type filter hook forward priority 0; policy accept; }\n", nftTable)
	}
	if chain != "part" {
		fmt.Fprintf(&script, "add chain bridge %s %s { type filter hook forward priority 0; policy accept; }\n", nftTable, chain)
	}
	for _, r := range rules {
		fmt.Fprintf(&script, "add rule bridge %s %s %s\n", nftTable, chain, r)
	}
	l.nftRun(script.String())
	l.nftable = true
}

func (l *Lab) nftRun(script string) {
	l.tb.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.sw, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.tb.Fatalf("lab: nft in %s: %v: %s\n%s", l.sw, err, out, script)
	}
}
