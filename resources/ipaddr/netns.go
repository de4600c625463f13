package ipaddr

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// handle opens a netlink handle in the agent's namespace.
func (a *Agent) handle() (*netlink.Handle, error) {
	if a.nsPath == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(a.nsPath)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", a.nsPath, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// inNS runs fn with the calling thread in the agent's namespace, so that the
// sockets fn opens belong to it (a socket keeps its namespace for life). It
// runs fn on a goroutine of its own whose thread is thrown away if it cannot
// be switched back, so no other code ever runs in the wrong namespace.
func (a *Agent) inNS(fn func() error) error { return runInNS(a.nsPath, fn) }

// runInNS runs fn in the namespace at nsPath ("" = the current one).
func runInNS(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open namespace %s: %w", nsPath, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", nsPath, err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		} // else: the locked thread dies with this goroutine
		errc <- err
	}()
	return <-errc
}
