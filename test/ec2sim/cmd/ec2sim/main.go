// Command ec2sim runs the EC2/IMDS simulator standalone for labs:
//
//	go run ./test/ec2sim/cmd/ec2sim -config sim.json
//
// It serves the EC2 Query API (and /_sim/knobs, /_sim/log) on the config's
// "listen" address and IMDS for each instance on its "imds_listen" address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-ha/vigil/test/ec2sim"
)

func main() {
	path := flag.String("config", "", "simulator config file (JSON)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *path); err != nil {
		fmt.Fprintln(os.Stderr, "ec2sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, path string) error {
	if path == "" {
		return errors.New("-config is required")
	}
	cfg, err := ec2sim.LoadConfig(path)
	if err != nil {
		return err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8900"
	}
	sim, err := ec2sim.New(cfg, ec2sim.Hooks{})
	if err != nil {
		return err
	}
	defer sim.Close()

	type srv struct {
		addr string
		h    http.Handler
	}
	srvs := []srv{{cfg.Listen, sim}}
	for _, in := range cfg.Instances {
		if in.IMDSListen != "" {
			srvs = append(srvs, srv{in.IMDSListen, sim.IMDSHandler(in.ID)})
		}
	}
	errc := make(chan error, len(srvs))
	var servers []*http.Server
	for _, s := range srvs {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.addr, err)
		}
		hs := &http.Server{Handler: s.h}
		servers = append(servers, hs)
		fmt.Fprintf(os.Stderr, "ec2sim: serving on %s\n", ln.Addr())
		go func() { errc <- hs.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, hs := range servers {
		_ = hs.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
