package main

import (
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
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
	// VIGIL_EXEC_TRACE names a file for an execution trace (go tool trace)
	// over the same span: it shows what wakes an idle agent, which a CPU
	// profile of short bursts does not.
	execTraceEnv = "VIGIL_EXEC_TRACE"
)

// startCPUProfile starts the profile the environment asks for, in that file
// plus suffix, and returns the function that stops and writes it
// (idempotent; a no-op without one).
func startCPUProfile(log hclog.Logger, suffix string) func() {
	stopProfile := startRecording(log, os.Getenv(cpuProfileEnv), suffix, "CPU profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
	stopTrace := startRecording(log, os.Getenv(execTraceEnv), suffix, "execution trace", trace.Start, trace.Stop)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopProfile()
			stopTrace()
		})
	}
	if d, err := time.ParseDuration(os.Getenv(cpuProfileForEnv)); err == nil && d > 0 {
		time.AfterFunc(d, stop)
	}
	return stop
}

// startRecording starts one recording into path plus suffix and returns
// what stops it and writes the file (a no-op without a path).
func startRecording(log hclog.Logger, path, suffix, what string, start func(io.Writer) error, end func()) func() {
	if path == "" {
		return func() {}
	}
	path += suffix
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		log.Warn("no "+what, "error", err)
		return func() {}
	}
	if err := start(f); err != nil {
		f.Close()
		log.Warn("no "+what, "error", err)
		return func() {}
	}
	return func() {
		end()
		if err := f.Close(); err != nil {
			log.Warn(what, "error", err)
			return
		}
		log.Info(what+" written", "file", path)
	}
}
