package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// binCache builds each helper binary once per test binary. It is the
// package's one global, on purpose: the cache must outlive single tests.
var binCache = struct {
	mu    sync.Mutex
	dir   string
	built map[string]*builtBin
}{built: map[string]*builtBin{}}

type builtBin struct {
	once sync.Once
	path string
	err  error
}

// Vigil returns the path of bin/vigil freshly built from ./cmd/vigil of this
// module (once per test binary).
func Vigil(tb testing.TB) string {
	tb.Helper()
	return Build(tb, "./cmd/vigil")
}

// ProbeBin returns the path of the built VIP prober (test/lab/cmd/probe).
func ProbeBin(tb testing.TB) string {
	tb.Helper()
	return Build(tb, "./test/lab/cmd/probe")
}

// Build runs `go build` of pkg (a path relative to the module root) once per
// test binary into a per-process directory and returns the binary's path.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	return cachedBuild(tb, pkg, func() (string, error) { return build(pkg) })
}

// cachedBuild runs build once per test binary for key and returns its path.
func cachedBuild(tb testing.TB, key string, build func() (string, error)) string {
	tb.Helper()
	binCache.mu.Lock()
	b, ok := binCache.built[key]
	if !ok {
		b = &builtBin{}
		binCache.built[key] = b
	}
	binCache.mu.Unlock()
	b.once.Do(func() { b.path, b.err = build() })
	if b.err != nil {
		tb.Fatalf("lab: %v", b.err)
	}
	return b.path
}

func build(pkg string) (string, error) {
	root, dir, err := buildDirs()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	return out, goBuild(root, out, pkg)
}

// buildDirs are the module root and the directory binaries go to.
func buildDirs() (root, bin string, err error) {
	if root, err = ModuleRoot(); err != nil {
		return "", "", err
	}
	bin, err = binDir()
	return root, bin, err
}

// goBuild runs `go build [flags] -o out pkg` in src.
func goBuild(src, out, pkg string, flags ...string) error {
	cmd := exec.Command(goTool(), append(append([]string{"build"}, flags...), "-o", out, pkg)...)
	cmd.Dir = src
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, src, err, msg)
	}
	return nil
}

// ModuleRoot is the directory holding this module's go.mod, found from this
// source file's location with `go env GOMOD`.
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the lab package source")
	}
	cmd := exec.Command(goTool(), "env", "GOMOD")
	cmd.Dir = filepath.Dir(file)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("no go.mod above %s", cmd.Dir)
	}
	return filepath.Dir(gomod), nil
}

// goTool is the go command: `go test` puts its own GOROOT/bin first in PATH;
// /usr/local/go is this project's documented install location otherwise.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// binDir is /tmp/vigil-lab-bin/<pid>; directories of dead test binaries are
// swept on the way, so at most the running ones are kept.
func binDir() (string, error) {
	binCache.mu.Lock()
	defer binCache.mu.Unlock()
	if binCache.dir != "" {
		return binCache.dir, nil
	}
	base := filepath.Join(os.TempDir(), "vigil-lab-bin")
	if ents, err := os.ReadDir(base); err == nil {
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err == nil && pid != os.Getpid() && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				os.RemoveAll(filepath.Join(base, e.Name()))
			}
		}
	}
	dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	binCache.dir = dir
	return dir, nil
}

// HelloBin returns the path of the built stand-in HTTP service
// (test/lab/cmd/hello: answers every request with its -body line).
func HelloBin(tb testing.TB) string {
	tb.Helper()
	return Build(tb, "./test/lab/cmd/hello")
}
