package agent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timedOut reports whether a TCP connection attempt to addr went unanswered
// for at least timeout. The kernel, not this process, says so: the attempt
// is a non-blocking connect, and after the wait the socket's own state tells
// whether the handshake completed (an answer), was refused or failed (no
// silence: an answer, or no evidence), or is still in progress (no answer
// in all that time). A process starved or stalled meanwhile only looks
// later, which gives the peer more time, never less: its answer cannot lose
// a race with this process's timer. greet, if set, gets the connection when
// the peer answered.
func timedOut(ctx context.Context, addr string, timeout time.Duration, greet func(net.Conn)) bool {
	ap, ok := resolveAddrPort(ctx, addr)
	if !ok {
		return false
	}
	sa, family, ok := sockaddr(ap)
	if !ok {
		return false
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	closeFD := true
	defer func() {
		if closeFD {
			unix.Close(fd)
		}
	}()
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return false // refused at once, no route from here: not silence
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	if soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
		return false // refused, reset, unreachable: an answer, or no evidence about the peer
	}
	if _, err := unix.Getpeername(fd); err != nil {
		return errors.Is(err, unix.ENOTCONN) // still connecting: no answer for at least timeout
	}
	if greet != nil {
		closeFD = false
		f := os.NewFile(uintptr(fd), "reach")
		c, err := net.FileConn(f) // a duplicate of fd
		f.Close()
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(timeout))
			greet(c)
			c.Close()
		}
	}
	return false
}

// resolveAddrPort parses addr, resolving a host name first, apart: a slow
// resolver is no silence of the node.
func resolveAddrPort(ctx context.Context, addr string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap, true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, false
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ips[0].Unmap().String(), port))
	return ap, err == nil
}

// sockaddr is ap as a socket address, and its address family.
func sockaddr(ap netip.AddrPort) (unix.Sockaddr, int, bool) {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, unix.AF_INET, true
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, 0, false
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, unix.AF_INET6, true
}
