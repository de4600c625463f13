// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): one
// datagram per message to the unix socket named by $NOTIFY_SOCKET. It is
// what a Type=notify unit with WatchdogSec needs: READY=1, STOPPING=1,
// STATUS=..., WATCHDOG=1.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends to one socket. The zero Notifier (not under systemd)
// sends nothing.
type Notifier struct {
	Socket string
	// Watchdog is half of WatchdogSec when systemd asked for pings for this
	// process, else 0.
	Watchdog time.Duration
}

// FromEnv reads $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID as systemd
// sets them for the service's main process.
func FromEnv(getenv func(string) string) Notifier {
	n := Notifier{Socket: getenv("NOTIFY_SOCKET")}
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return n
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n // meant for another process
	}
	n.Watchdog = time.Duration(usec) * time.Microsecond / 2
	return n
}

// Enabled reports whether there is a socket to talk to.
func (n Notifier) Enabled() bool { return n.Socket != "" }

// Notify sends state, e.g. "READY=1" or "STATUS=waiting for quorum".
func (n Notifier) Notify(state string) error {
	if n.Socket == "" {
		return nil
	}
	name := n.Socket
	if name[0] == '@' {
		name = "\x00" + name[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
