// Package httpserve runs the agent's HTTP servers (the API on its unix
// socket and TCP, the RPC channel of the cluster port) with the limits a
// server facing untrusted input needs: header, read, write and idle
// timeouts, a small request body limit and a bound on open connections.
package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/cluster/internal/ratelog"
)

// Limits for one server. Zero fields take the defaults below.
type Limits struct {
	// TLS, when set, is applied after the connection limit, so that the
	// server sees *tls.Conn (r.TLS is set) and a handshake takes a slot.
	TLS        *tls.Config
	ReadHeader time.Duration
	Read       time.Duration // whole request, body included
	Write      time.Duration // from the end of the request headers to the end of the response
	Idle       time.Duration // keep-alive connection with no request
	MaxBody    int64
	MaxConns   int
}

// Defaults: requests are small JSON documents and answers are quick, except
// a forwarded fence, which may take as long as the fence devices do.
const (
	DefaultReadHeader = 5 * time.Second
	DefaultRead       = 10 * time.Second
	DefaultWrite      = 6 * time.Minute // vigil fence waits up to 5 minutes
	DefaultIdle       = 2 * time.Minute
	DefaultMaxBody    = 64 << 10
	DefaultMaxConns   = 64
)

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ReadHeader, DefaultReadHeader)
	def(&l.Read, DefaultRead)
	def(&l.Write, DefaultWrite)
	def(&l.Idle, DefaultIdle)
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// Server returns an http.Server for h with lim applied (except MaxConns,
// which Serve applies to the listener). Its error log is rate limited: a
// flood of bad handshakes cannot fill the disk.
func Server(h http.Handler, lim Limits, logger hclog.Logger, connCtx func(context.Context, net.Conn) context.Context) *http.Server {
	lim = lim.withDefaults()
	return &http.Server{
		Handler:           http.MaxBytesHandler(h, lim.MaxBody),
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(&limitedWriter{log: logger, rl: ratelog.New(10, 10*time.Second)}, "", 0),
		ConnContext:       connCtx,
	}
}

// Serve serves h on l with lim until ctx ends.
func Serve(ctx context.Context, l net.Listener, h http.Handler, lim Limits, logger hclog.Logger,
	connCtx func(context.Context, net.Conn) context.Context) error {
	lim = lim.withDefaults()
	srv := Server(h, lim, logger, connCtx)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	l = LimitListener(l, lim.MaxConns)
	if lim.TLS != nil {
		l = tls.NewListener(l, lim.TLS)
	}
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LimitListener accepts at most n connections at once, and at most n/4 from
// one remote IP: beyond that, new connections are accepted and closed at
// once, so one client holding many idle connections cannot starve the others
// (they retry) nor exhaust the agent's file descriptors.
func LimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, max: n, perHost: max(n/4, 1), byHost: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max, perHost int

	mu     sync.Mutex
	total  int
	byHost map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := remoteHost(c)
		l.mu.Lock()
		ok := l.total < l.max && (host == "" || l.byHost[host] < l.perHost)
		if ok {
			l.total++
			if host != "" {
				l.byHost[host]++
			}
		}
		l.mu.Unlock()
		if !ok {
			_ = c.Close()
			continue
		}
		return &limitConn{Conn: c, release: func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if host != "" {
				if l.byHost[host]--; l.byHost[host] <= 0 {
					delete(l.byHost, host)
				}
			}
		}}, nil
	}
}

// remoteHost is the IP of a TCP peer, "" for unix sockets (one local user).
func remoteHost(c net.Conn) string {
	a, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	return a.IP.String()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// NetConn returns the wrapped connection (http.Server and ConnContext
// callbacks look through it to find a *tls.Conn).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

type limitedWriter struct {
	log hclog.Logger
	rl  *ratelog.Limiter
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	ok, n := w.rl.Allow()
	if ok && w.log != nil {
		args := []any{}
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		w.log.Warn(strings.TrimSpace(string(p)), args...)
	}
	return len(p), nil
}
