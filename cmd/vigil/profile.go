package main

import (
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Env variables that make the agent write a CPU profile (for the idle and
// scale benchmarks; there is no profiling endpoint). VIGIL_CPU_PROFILE names
// the file; the profile covers VIGIL_CPU_PROFILE_FOR (a duration) from the
// agent's start, or the agent's whole life when that is unset.
const (
	cpuProfileEnv    = "VIGIL_CPU_PROFILE"
	cpuProfileForEnv = "VIGIL_CPU_PROFILE_FOR"
)

// startCPUProfile starts the profile the environment asks for, in that file
// plus suffix, and returns the function that stops and writes it
// (idempotent; a no-op without one).
func startCPUProfile(log hclog.Logger, suffix string) func() {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}
	}
	path += suffix
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		log.Warn("no CPU profile", "error", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		log.Warn("no CPU profile", "error", err)
		return func() {}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				log.Warn("CPU profile", "error", err)
				return
			}
			log.Info("CPU profile written", "file", path)
		})
	}
	if d, err := time.ParseDuration(os.Getenv(cpuProfileForEnv)); err == nil && d > 0 {
		time.AfterFunc(d, stop)
	}
	return stop
}
