package lab

import (
	"bytes"
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
	return cachedBuild(tb, "vigil@"+rev, func() (string, error) { return buildAt(rev) })
}

func buildAt(rev string) (string, error) {
	root, dir, err := buildDirs()
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
	// A shallow clone (CI may make one) lacks the revision: deepen it first.
	if out, _ := exec.Command("git", "-C", root, "rev-parse", "--is-shallow-repository").Output(); string(out) == "true\n" {
		if msg, err := exec.Command("git", "-C", root, "fetch", "--quiet", "--unshallow").CombinedOutput(); err != nil {
			return "", fmt.Errorf("this clone is shallow and `git fetch --unshallow` failed (the upgrade test needs %s): %w\n%s", rev, err, msg)
		}
	}
	tarball, err := exec.Command("git", "-C", root, "archive", "--format=tar", rev).Output()
	if err != nil {
		return "", fmt.Errorf("git archive %s (the upgrade test needs this repository's history): %w", rev, err)
	}
	untar := exec.Command("tar", "-x", "-C", src)
	untar.Stdin = bytes.NewReader(tarball)
	if msg, err := untar.CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %w\n%s", rev, err, msg)
	}
	out := filepath.Join(dir, "vigil-"+rev)
	if err := goBuild(src, out, "./cmd/vigil", "-ldflags", "-X main.version="+rev); err != nil {
		return "", err
	}
	return out, os.RemoveAll(src)
}
