package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildAt builds ./cmd/vigil as it was at the git revision rev of this
// repository (a release to upgrade from), with version set to the
// revision, once per test binary. The source comes from `git archive`, so
// the working tree is untouched; modules come from the shared cache.
func BuildAt(tb testing.TB, rev string) string {
	tb.Helper()
	key := "vigil@" + rev
	binCache.mu.Lock()
	b, ok := binCache.built[key]
	if !ok {
		b = &builtBin{}
		binCache.built[key] = b
	}
	binCache.mu.Unlock()
	b.once.Do(func() { b.path, b.err = buildAt(rev) })
	if b.err != nil {
		tb.Fatalf("lab: %v", b.err)
	}
	return b.path
}

func buildAt(rev string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "src-"+rev)
	if err := os.RemoveAll(src); err != nil {
		return "", err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.Command("sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", root, rev, src)
	if msg, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git archive %s (the lab needs this repository's history): %w\n%s", rev, err, msg)
	}
	out := filepath.Join(dir, "vigil-"+rev)
	cmd := exec.Command(goTool(), "build", "-ldflags", "-X main.version="+rev, "-o", out, "./cmd/vigil")
	cmd.Dir = src
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build vigil at %s: %w\n%s", rev, err, msg)
	}
	return out, os.RemoveAll(src)
}
