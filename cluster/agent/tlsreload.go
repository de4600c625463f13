package agent

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ha/vigil/cluster/reload"
	"github.com/vigil-ha/vigil/cluster/tlsutil"
	"github.com/vigil-ha/vigil/configs"
)

// metaCertKey is the gossiped expiry of a node's certificate (unix seconds), so
// every node's status shows every node's expiry.
const metaCertKey = "crt"

// certWarnBefore is how long before expiry status warns.
const certWarnBefore = 30 * 24 * time.Hour

// reloadTLS re-reads the node certificate and key at the configured paths
// (renamed paths wait for a restart: reload.Diff reports them). Handshakes
// from now on use the new certificate; established connections are kept.
func (a *Agent) reloadTLS(next *configs.Config) (applied string, pending *reload.Change, err error) {
	if a.certs == nil || next.Cluster.TLS != a.cfg.Cluster.TLS {
		return "", nil, nil
	}
	changed, err := a.certs.Reload(time.Now())
	if errors.Is(err, tlsutil.ErrCAChanged) {
		pending, err = &reload.Change{Section: "cluster.tls.ca_file", Why: err.Error()}, nil
	}
	if err != nil {
		return "", nil, err
	}
	if changed {
		applied = "certificate " + next.Cluster.TLS.CertFile + " (expires " + a.certs.NotAfter().UTC().Format(time.RFC3339) + ")"
		a.log.Info("node certificate reloaded", "file", next.Cluster.TLS.CertFile, "not_after", a.certs.NotAfter())
	}
	return applied, pending, nil
}

// certMeta gossips our certificate's expiry.
func (a *Agent) certMeta(extra map[string]string) {
	if a.certs != nil {
		extra[metaCertKey] = strconv.FormatInt(a.certs.NotAfter().Unix(), 10)
	}
}

// certExpiry reads a node's gossiped certificate expiry.
func certExpiry(extra map[string]string) (time.Time, bool) {
	s, ok := extra[metaCertKey]
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// certWarning is the status warning for a certificate close to expiry.
func certWarning(notAfter, now time.Time) string {
	switch left := notAfter.Sub(now); {
	case left <= 0:
		return "its cluster certificate expired at " + notAfter.UTC().Format(time.RFC3339)
	case left < certWarnBefore:
		return "its cluster certificate expires in " + left.Round(time.Hour).String() + " (" +
			notAfter.UTC().Format(time.RFC3339) + "): renew it and run `vigil reload`"
	}
	return ""
}

// registerCertMetric exports the certificate's expiry as a gauge.
func (a *Agent) registerCertMetric() {
	if a.certs == nil {
		return
	}
	a.tel.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_tls_certificate_expiry_timestamp_seconds",
		Help: "When this node's cluster certificate expires (unix time); it follows `vigil reload`.",
	}, func() float64 { return float64(a.certs.NotAfter().Unix()) }))
}
