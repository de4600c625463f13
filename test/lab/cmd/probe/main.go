// Command probe is the lab's VIP client. It requests a URL at a fixed rate,
// each request on a fresh connection with a short timeout, and prints one
// line per request (with -header, one response header before the body, so a
// client can tell which load balancer answered as well as which backend
// served the body):
//
//	<unix-nanos> ok <header value or -> <first line of the body>
//	<unix-nanos> err <reason>
//
// Without -header the header column is left out.
// Lines parse with lab.ReadProbe. It runs until SIGTERM/SIGINT.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to request")
	header := flag.String("header", "", "response header to print before the body (\"\" for none)")
	every := flag.Duration("interval", 10*time.Millisecond, "time between requests")
	timeout := flag.Duration("timeout", 20*time.Millisecond, "per-request timeout")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "probe: -url is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// No keep-alive: every request is a new client, as after a failover.
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	emit := func(status, text string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%d %s %s\n", time.Now().UnixNano(), status, text)
		out.Flush()
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, text := probe(client, *url, *header)
			emit(status, text)
		}()
	}
}

func probe(client *http.Client, url, header string) (status, text string) {
	resp, err := client.Get(url)
	if err != nil {
		return "err", oneLine(err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "err", oneLine(err.Error())
	}
	first, _, _ := strings.Cut(string(body), "\n")
	if resp.StatusCode != http.StatusOK {
		return "err", oneLine(fmt.Sprintf("status %d %s", resp.StatusCode, first))
	}
	if header == "" {
		return "ok", oneLine(first)
	}
	return "ok", oneLine(word(resp.Header.Get(header)) + " " + oneLine(first))
}

// word makes a header value one space-free column.
func word(s string) string {
	s = strings.Join(strings.Fields(s), "_")
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if s == "" {
		return "-"
	}
	return s
}
