package membership

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	base := Config{Name: "n1", BindAddr: "127.0.0.1:7301", Key: testKey, Timing: fastTiming}
	big := Meta{Extra: map[string]string{"blob": strings.Repeat("x", MaxMetaSize)}}
	cases := map[string]func(*Config){
		"no name":          func(c *Config) { c.Name = "" },
		"wildcard bind":    func(c *Config) { c.BindAddr = "0.0.0.0:7301" },
		"ipv6 wildcard":    func(c *Config) { c.BindAddr = "[::]:7301" },
		"hostname bind":    func(c *Config) { c.BindAddr = "lb1:7301" },
		"port zero":        func(c *Config) { c.BindAddr = "127.0.0.1:0" },
		"no port":          func(c *Config) { c.BindAddr = "127.0.0.1" },
		"short key":        func(c *Config) { c.Key = []byte("short") },
		"bad peer":         func(c *Config) { c.Peers = []string{"nowhere"} },
		"long label":       func(c *Config) { c.Label = strings.Repeat("l", 256) },
		"timeout>interval": func(c *Config) { c.Timing.ProbeTimeout = time.Second },
		"meta too big":     func(c *Config) { c.Meta = func() Meta { return big } },
	}
	for name, mutate := range cases {
		cfg := base
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(base); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	if strings.Contains(errString(New(Config{Name: "n", BindAddr: "127.0.0.1:1", Key: []byte("secret-but-wrong-size")})), "secret") {
		t.Error("key material leaked into an error")
	}
}

func errString(_ *Membership, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestMetaRoundTripAndSize(t *testing.T) {
	in := Meta{Role: "witness", Version: "1.2.3", Standby: true,
		Health: map[string]bool{"": true, "web": false}, Extra: map[string]string{"az": "eu-west-1a"}}
	b, err := encodeMeta(in, true)
	if err != nil {
		t.Fatal(err)
	}
	out, leaving, err := decodeMeta(b)
	if err != nil || !leaving || out.Role != in.Role || out.Version != in.Version || !out.Standby ||
		!out.Health[""] || out.Health["web"] || out.Extra["az"] != "eu-west-1a" {
		t.Fatalf("round trip: %+v leaving=%v err=%v (wire %s)", out, leaving, err, b)
	}
	t.Logf("typical meta is %d bytes of %d", len(b), MaxMetaSize)
}

// UpdateMeta refuses an oversized Meta instead of letting memberlist panic,
// and the cluster keeps the last good Meta.
func TestUpdateMetaTooLarge(t *testing.T) {
	net := NewMemNetwork()
	cfgs := memCluster(net, "n1", "n2")
	n1, n2 := start(t, cfgs[0]), start(t, cfgs[1])
	waitFor(t, n2, 5*time.Second, "n1 alive", stateIs("n1", StateAlive))

	n1.meta.set(func(m *Meta) { m.Extra = map[string]string{"blob": strings.Repeat("x", MaxMetaSize)} })
	if err := n1.m.UpdateMeta(time.Second); err == nil {
		t.Fatal("UpdateMeta accepted oversized meta")
	}
	// memberlist itself may still call NodeMeta (e.g. on refute): it must not panic.
	if b := (&delegate{m: n1.m}).NodeMeta(MaxMetaSize); len(b) == 0 || len(b) > MaxMetaSize {
		t.Fatalf("NodeMeta fallback returned %d bytes", len(b))
	}
	if mb, _ := n2.member("n1"); mb.Meta.Role != "node" {
		t.Fatalf("n2 lost n1's meta: %+v", mb)
	}
}

func TestUpdateMetaNotRunning(t *testing.T) {
	m, err := New(Config{Name: "n1", BindAddr: "127.0.0.1:7301"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpdateMeta(time.Second); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("UpdateMeta before Run: %v", err)
	}
}
