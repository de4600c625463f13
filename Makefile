# vigil: build, test, lint, bench. `make test` is what CI runs.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# A release binary: no local paths, no symbol table or DWARF, version embedded.
LDFLAGS := -s -w -X main.version=$(VERSION)
# .ci/run sets GOTEST to test/cisummary, which adds a per-package summary.
GOTEST  ?= $(GO) test

# Packages with concurrency run under the race detector; the netns lab runs
# real processes and needs root (it skips itself, saying why, otherwise).
RACE_PKGS := ./cluster/... ./health/... ./fencing/... ./resources/... ./configs/... ./cloud/... ./test/ec2sim/...

.PHONY: build test unit lab lint bench soak chaos clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/vigil ./cmd/vigil
	@echo "bin/vigil $(VERSION): $$(du -h bin/vigil | cut -f1)"

test: build lint unit lab

unit:
	$(GOTEST) -race -count=1 -timeout 15m $(RACE_PKGS) ./cmd/... ./internal/... ./builtin/... ./params/... ./test/cisummary/... ./test

lab: build
	$(GOTEST) -count=1 -timeout 20m -p 1 ./test/lab/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed; skipped"; fi

# Timing figures from the lab (min/median/max over several runs; vigil and
# keepalived side by side). VIGIL_BENCH_RUNS, VIGIL_BENCH_PRESET and
# VIGIL_BENCH_TUNING (e.g. 'lease=500ms,probe_interval=100ms') change the
# runs and vigil's timing. The soak has its own target.
bench: build
	VIGIL_BENCH=1 $(GO) test -count=1 -timeout 90m -p 1 -run '^$$' -bench . -skip '^BenchmarkSoak$$' -benchtime 1x ./test/lab/... ./health/... ./test/ec2sim/...

# No false failovers: a pair + witness left alone with every core busy and 5%
# loss on the heartbeat link (VIGIL_SOAK_DURATION, default 10m;
# VIGIL_SOAK_PRESET, VIGIL_SOAK_TUNING, VIGIL_SOAK_LOSS).
soak: build
	$(GO) test -count=1 -timeout 0 -p 1 -run '^$$' -bench '^BenchmarkSoak$$' -benchtime 1x ./test/lab/

# Seeded random faults on a fenced lab cluster (test/lab/chaos_test.go); the
# same SEED (and KINDS) replays the same fault sequence. KINDS=sigstop,link-cut
# limits the fault kinds. `make lab` runs a short fixed seed.
SEED  ?= 16
STEPS ?= 30
KINDS ?=
chaos: build
	VIGIL_CHAOS_SEED=$(SEED) VIGIL_CHAOS_STEPS=$(STEPS) VIGIL_CHAOS_KINDS=$(KINDS) $(GO) test -count=1 -timeout 0 -p 1 -v -run '^TestChaos$$' ./test/lab/

clean:
	rm -rf bin
