package lab

import (
	"bufio"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sample is one line of the probe's output.
type Sample struct {
	Time time.Time // when the answer or error arrived
	OK   bool
	Body string // first line of the body, or the error text
}

// StartProbe runs the probe (cmd/probe) inside h against url, every 10 ms
// with a 20 ms timeout. Stop it (p.Stop) before reading p.Log with ReadProbe.
func (h *Host) StartProbe(name, url string) *Proc {
	h.lab.tb.Helper()
	return h.Start(name, ProbeBin(h.lab.tb), "-url", url, "-interval", "10ms", "-timeout", "20ms")
}

// ReadProbe parses a probe log, sorted by time. Lines that are not probe
// output (the harness's start banner) are skipped.
func ReadProbe(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Sample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 3)
		if len(fields) < 2 || (fields[1] != "ok" && fields[1] != "err") {
			continue
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		s := Sample{Time: time.Unix(0, ns), OK: fields[1] == "ok"}
		if len(fields) == 3 {
			s.Body = fields[2]
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, sc.Err()
}

// Downtime is the client-observed gap of a move: from the last successful
// answer with body oldBody to the first successful answer with body newBody
// (bodies compare as whole first lines). It returns -1 when the new body was
// never seen or the old one never seen before it.
func Downtime(samples []Sample, oldBody, newBody string) time.Duration {
	first := -1
	for i, s := range samples {
		if s.OK && s.Body == newBody {
			first = i
			break
		}
	}
	if first < 0 {
		return -1
	}
	for i := first - 1; i >= 0; i-- {
		if samples[i].OK && samples[i].Body == oldBody {
			return samples[first].Time.Sub(samples[i].Time)
		}
	}
	return -1
}

// Holders samples which hosts hold an address, to check "never two holders".
type Holders struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []HolderSample
	errs    int
}

// HolderSample is the set of hosts that held the address at one instant.
type HolderSample struct {
	Time  time.Time
	Hosts []string
}

// SampleHolders polls `ip -n NS -o addr` of every host every interval until
// Stop (or the lab's cleanup). Each round reads the hosts in order and then
// in reverse order; a host counts as a holder only if both reads saw the
// address, which means it held it at the turning point between the two
// passes. So a holder count of 2 is a real overlap, not two sequential reads
// straddling a clean move.
func SampleHolders(hosts []*Host, ip string, every time.Duration) *Holders {
	hs := &Holders{stop: make(chan struct{}), done: make(chan struct{})}
	if len(hosts) == 0 {
		close(hs.done)
		return hs
	}
	hosts[0].lab.tb.Cleanup(hs.Stop)
	go hs.run(hosts, ip, every)
	return hs
}

func (hs *Holders) run(hosts []*Host, ip string, every time.Duration) {
	defer close(hs.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	n := len(hosts)
	for {
		fwd := make([]bool, n)
		failed := false
		for i, h := range hosts {
			addrs, err := h.Addrs()
			failed = failed || err != nil
			fwd[i] = hasAddr(addrs, ip)
		}
		mid := time.Now()
		var holders []string
		for i := n - 1; i >= 0; i-- {
			addrs, err := hosts[i].Addrs()
			failed = failed || err != nil
			if fwd[i] && hasAddr(addrs, ip) {
				holders = append(holders, hosts[i].name)
			}
		}
		hs.mu.Lock()
		if failed {
			hs.errs++
		} else {
			hs.samples = append(hs.samples, HolderSample{Time: mid, Hosts: holders})
		}
		hs.mu.Unlock()
		select {
		case <-hs.stop:
			return
		case <-tick.C:
		}
	}
}

// Stop ends sampling and waits for the sampler to finish; it is idempotent.
func (hs *Holders) Stop() {
	select {
	case <-hs.stop:
	default:
		close(hs.stop)
	}
	<-hs.done
}

// Samples returns a copy of the samples taken so far.
func (hs *Holders) Samples() []HolderSample {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]HolderSample(nil), hs.samples...)
}

// MaxHolders is the largest number of simultaneous holders seen.
func (hs *Holders) MaxHolders() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	m := 0
	for _, s := range hs.samples {
		m = max(m, len(s.Hosts))
	}
	return m
}

// FirstOverlap is the first sample with more than one holder, if any.
func (hs *Holders) FirstOverlap() (HolderSample, bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for _, s := range hs.samples {
		if len(s.Hosts) > 1 {
			return s, true
		}
	}
	return HolderSample{}, false
}

// Absent reports whether a sample after from (and before to, unless to is
// zero) saw no holder, and how long the address went missing in all: the
// time between consecutive such samples, summed.
func (hs *Holders) Absent(from, to time.Time) (missing bool, gap time.Duration) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var last time.Time
	for _, s := range hs.samples {
		if !s.Time.After(from) || (!to.IsZero() && !s.Time.Before(to)) || len(s.Hosts) > 0 {
			last = time.Time{}
			continue
		}
		missing = true
		if !last.IsZero() {
			gap += s.Time.Sub(last)
		}
		last = s.Time
	}
	return missing, gap
}

// Errors counts rounds dropped because an `ip` call failed.
func (hs *Holders) Errors() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.errs
}
