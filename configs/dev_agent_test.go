package configs_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources"
	"github.com/vigil-ha/vigil/resources/execagent"
)

// The dev demo must work with the real exec agent: stopped before start,
// running after start, stopped again after stop.
func TestDevDemoRunsUnderExecAgent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := configs.Dev(dir)
	g := c.Groups[0]
	r := g.Resources[0]
	a, err := execagent.New(resources.Spec{Group: g.Name, Name: r.Name, Params: r.Params, Node: c.NodeName, RunDir: dir})
	if err != nil {
		t.Fatalf("execagent.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	expect := func(step string, want resources.State) {
		t.Helper()
		st, err := a.Monitor(ctx)
		if st != want {
			t.Fatalf("%s: monitor = %v (%v), want %v", step, st, err, want)
		}
	}
	expect("before start", resources.Stopped)
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	expect("after start", resources.Running)
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	expect("after stop", resources.Stopped)
}
