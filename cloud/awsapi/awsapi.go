// Package awsapi builds the EC2 and IMDS clients shared by vigil's AWS fencer
// (fencing/aws) and resource agents (resources/aws): default credential
// chain, region from config or IMDS, a throttle-tolerant retryer, and polling
// helpers. It belongs to neither; both import it.
package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/go-hclog"
)

// Options override the standard SDK configuration. The zero value is what
// production uses: endpoints come from AWS_ENDPOINT_URL_EC2 and
// AWS_EC2_METADATA_SERVICE_ENDPOINT when set, credentials from the default chain.
type Options struct {
	Region       string
	EC2Endpoint  string
	IMDSEndpoint string
	Credentials  aws.CredentialsProvider
	MaxAttempts  int           // per call; default 5
	MaxBackoff   time.Duration // retry back-off cap; default 500ms
	IMDSTimeout  time.Duration // per IMDS lookup; default DefaultIMDSTimeout
	// Logger, when set, gets one line per retried call (throttling, 5xx), so
	// the agent log explains a slow fence or takeover.
	Logger hclog.Logger
}

// Clients are ready-to-use clients.
type Clients struct {
	EC2         *ec2.Client
	IMDS        *imds.Client
	Region      string
	imdsTimeout time.Duration
}

// Load builds the clients. It may call IMDS (for the region).
func Load(ctx context.Context, o Options) (*Clients, error) {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 500 * time.Millisecond
	}
	if o.IMDSTimeout == 0 {
		o.IMDSTimeout = DefaultIMDSTimeout
	}
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}
	// Throttling is retried quickly and without the client-side retry quota:
	// a failover must not give up because earlier calls were throttled.
	opts = append(opts, config.WithRetryer(func() aws.Retryer {
		var r aws.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = o.MaxAttempts
			so.MaxBackoff = o.MaxBackoff
			so.RateLimiter = ratelimit.None
		})
		if o.Logger != nil {
			r = loggingRetryer{Retryer: r, log: o.Logger}
		}
		return r
	}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	md := imds.NewFromConfig(cfg, func(io *imds.Options) {
		if o.IMDSEndpoint != "" {
			io.Endpoint = o.IMDSEndpoint
		}
	})
	if cfg.Region == "" {
		rctx, cancel := context.WithTimeout(ctx, o.IMDSTimeout)
		defer cancel()
		r, err := md.GetRegion(rctx, &imds.GetRegionInput{})
		if err != nil {
			return nil, fmt.Errorf("no region configured and IMDS region lookup failed: %w", err)
		}
		cfg.Region = r.Region
	}
	c := ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
		if o.EC2Endpoint != "" {
			eo.BaseEndpoint = aws.String(o.EC2Endpoint)
		}
	})
	return &Clients{EC2: c, IMDS: md, Region: cfg.Region, imdsTimeout: o.IMDSTimeout}, nil
}

// loggingRetryer reports each retry the SDK makes.
type loggingRetryer struct {
	aws.Retryer
	log hclog.Logger
}

func (r loggingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.Retryer.RetryDelay(attempt, err)
	code := ErrorCode(err)
	if code == "" {
		code = err.Error()
	}
	r.log.Warn("EC2 API call retried", "attempt", attempt, "reason", code, "after", d)
	return d, derr
}

// Lazy loads clients on first use, so constructors do no I/O, and retries
// the load on the next call if it failed.
type Lazy struct {
	Options Options
	mu      sync.Mutex
	c       *Clients
}

// Get returns the clients, loading them if needed.
func (l *Lazy) Get(ctx context.Context) (*Clients, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c, nil
	}
	c, err := Load(ctx, l.Options)
	if err != nil {
		return nil, err
	}
	l.c = c
	return c, nil
}

// Metadata reads one IMDS meta-data path, trimmed.
func (c *Clients) Metadata(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.imdsTimeout)
	defer cancel()
	out, err := c.IMDS.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", fmt.Errorf("imds %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	if err != nil {
		return "", fmt.Errorf("imds %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// InstanceID is this machine's instance id, from IMDS.
func (c *Clients) InstanceID(ctx context.Context) (string, error) {
	return c.Metadata(ctx, "instance-id")
}

// PrimaryENI is the ENI id of this machine's primary interface, from IMDS.
func (c *Clients) PrimaryENI(ctx context.Context) (string, error) {
	mac, err := c.Metadata(ctx, "mac")
	if err != nil {
		return "", err
	}
	return c.Metadata(ctx, "network/interfaces/macs/"+mac+"/interface-id")
}

// ErrorCode returns the EC2 error code of err, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// DefaultIMDSTimeout bounds one IMDS lookup: off EC2 (or with IMDS blocked) the
// SDK would otherwise retry until the caller's whole deadline is spent.
const DefaultIMDSTimeout = 2 * time.Second

// PollInterval is how often agents and the fencer re-read EC2 state.
const PollInterval = 250 * time.Millisecond

// Poll calls check every interval until it reports done, returns a non-nil
// fatal error, or ctx ends. Transient errors (soft) are remembered and
// reported if ctx ends first.
func Poll(ctx context.Context, interval time.Duration, check func(ctx context.Context) (done bool, soft, fatal error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		done, soft, fatal := check(ctx)
		if fatal != nil {
			return fatal
		}
		if done {
			return nil
		}
		if soft != nil {
			last = soft
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
