package main

import (
	"os"
	"strconv"
	"time"
)

// panicSwitchEnv names a path P: when the file P.<agent pid> appears, the
// agent panics on a goroutine of its own: the lab's crash-guard test uses it to inject a real
// Go panic (an unrecovered panic kills the process like any crash). Unset
// in production, where it costs nothing.
const panicSwitchEnv = "VIGIL_TEST_PANIC_FILE"

func startPanicSwitch() {
	path := os.Getenv(panicSwitchEnv)
	if path == "" {
		return
	}
	path += "." + strconv.Itoa(os.Getpid())
	go func() {
		for {
			if _, err := os.Stat(path); err == nil {
				panic("injected by " + panicSwitchEnv + " (test only)")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
}
