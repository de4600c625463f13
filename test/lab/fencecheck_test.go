package lab

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFenceDeviceMonitor: n1's BMC is configured with a wrong password. The
// other nodes check the devices every 2 s: status warns about n1-bmc with
// its error (and no password anywhere), n2-bmc (fence_ipmilan's monitor)
// checks ok, and `vigil fence -check` runs the checks on demand.
func TestFenceDeviceMonitor(t *testing.T) {
	l := New(t, "vlabm")
	fc := StartFencedCluster(l, FenceSpec{
		Devices:         map[string]FenceDevice{"n1": FenceIPMI, "n2": FenceIpmilan},
		WrongPassword:   map[string]bool{"n1": true},
		MonitorInterval: "2s",
	})
	const settle = 30 * time.Second
	leader := fc.WaitHealthy(settle)
	secrets := []string{WrongBMCPassword, fc.BMCs["n1"].Password, fc.BMCs["n2"].Password}
	noSecret := func(t *testing.T, what, s string) {
		t.Helper()
		for _, pw := range secrets {
			if strings.Contains(s, pw) {
				t.Fatalf("a password appears in %s", what)
			}
		}
	}

	fc.Eventually(settle, "fence device checks from every other node", func() error {
		st, err := fc.Status(leader)
		if err != nil {
			return err
		}
		want := map[string]string{"n1-bmc@n2": "failing", "n1-bmc@w": "failing", "n2-bmc@n1": "ok", "n2-bmc@w": "ok"}
		for _, d := range st.FenceDevices {
			key := d.Device + "@" + d.Node
			if want[key] == d.State {
				delete(want, key)
			}
			if d.Target == d.Node {
				return fmt.Errorf("%s checks its own device %s", d.Node, d.Device)
			}
		}
		if len(want) > 0 {
			return fmt.Errorf("not yet: %v (devices %+v)", want, st.FenceDevices)
		}
		warned := 0
		for _, w := range st.Warnings {
			if strings.Contains(w, "fence device n1-bmc (fences n1) fails its check") && strings.Contains(w, "ipmi") {
				warned++
			}
			if strings.Contains(w, "n2-bmc") {
				return fmt.Errorf("warning for the working device: %q", w)
			}
		}
		if warned != 2 {
			return fmt.Errorf("%d warnings for n1-bmc, want one per checking node: %q", warned, st.Warnings)
		}
		return nil
	})
	for _, args := range [][]string{{"status"}, {"status", "-json"}} {
		out, err := fc.CLI(leader, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "n1-bmc") {
			t.Errorf("vigil %s does not show n1-bmc:\n%s", strings.Join(args, " "), out)
		}
		noSecret(t, "vigil "+strings.Join(args, " "), out)
	}

	out, err := fc.CLI("w", "fence", "-check", "n1")
	if err == nil || !strings.Contains(out, "failing") {
		t.Errorf("vigil fence -check n1 with a wrong password: err %v, output:\n%s", err, out)
	}
	noSecret(t, "fence -check output", out+fmt.Sprint(err))
	out, err = fc.CLI("w", "fence", "-check", "n2")
	if err != nil || !strings.Contains(out, "ok") {
		t.Errorf("vigil fence -check n2: err %v, output:\n%s", err, out)
	}
	for _, n := range fc.Nodes {
		b, _ := os.ReadFile(fc.Agent(n.Name).Log)
		noSecret(t, n.Name+"'s agent log", string(b))
	}
	// The power of nobody was touched by the checks.
	if fc.BMCs["n1"].CountCalls("set power 0")+fc.BMCs["n2"].CountCalls("set power 0") != 0 {
		t.Fatalf("checks changed power: %v %v", fc.BMCs["n1"].Calls(), fc.BMCs["n2"].Calls())
	}
}
