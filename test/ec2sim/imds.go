package ec2sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// IMDSHandler serves IMDSv2 for one instance. Real IMDS lives at a fixed
// address, so each simulated node gets its own listener with this handler.
// Network data is live: an assigned secondary IP shows in local-ipv4s.
func (s *Sim) IMDSHandler(instanceID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveIMDS(instanceID, w, r)
	})
}

func (s *Sim) serveIMDS(id string, w http.ResponseWriter, r *http.Request) {
	const ttlHeader = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "", http.StatusMethodNotAllowed)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get(ttlHeader))
		if err != nil || ttl < 1 || ttl > 21600 {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := hex.EncodeToString(b)
		s.mu.Lock()
		s.tokens[tok] = time.Now().Add(time.Duration(ttl) * time.Second)
		s.mu.Unlock()
		// The SDK falls back to IMDSv1 unless the TTL is echoed.
		w.Header().Set(ttlHeader, strconv.Itoa(ttl))
		_, _ = w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[r.Header.Get("X-Aws-Ec2-Metadata-Token")]
	if !ok || time.Now().After(exp) {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	in, ok := s.w.instances[id]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, ok := s.metadataLocked(in, r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/document") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain")
	}
	_, _ = w.Write([]byte(body))
}

func (s *Sim) metadataLocked(in *instance, path string) (string, bool) {
	var primary *eni
	if len(in.ENIs) > 0 {
		primary = s.w.enis[in.ENIs[0]]
	}
	if path == "/latest/dynamic/instance-identity/document" {
		doc := map[string]any{"region": s.cfg.Region, "instanceId": in.ID, "availabilityZone": in.AZ,
			"accountId": "123456789012", "instanceType": "t3.micro", "imageId": "ami-00000000",
			"architecture": "x86_64", "pendingTime": "2024-01-01T00:00:00Z"}
		if primary != nil {
			doc["privateIp"] = primary.IPs[0]
		}
		b, _ := json.MarshalIndent(doc, "", "  ")
		return string(b), true
	}
	p, ok := strings.CutPrefix(path, "/latest/meta-data/")
	if !ok {
		return "", false
	}
	p = strings.TrimSuffix(p, "/")
	switch p {
	case "instance-id":
		return in.ID, true
	case "placement/availability-zone":
		return in.AZ, true
	case "placement/region":
		return s.cfg.Region, true
	case "instance-type":
		return "t3.micro", true
	case "mac":
		if primary != nil {
			return primary.MAC, true
		}
	case "local-ipv4":
		if primary != nil {
			return primary.IPs[0], true
		}
	case "iam/security-credentials":
		return "vigil-sim-role", true
	case "iam/security-credentials/vigil-sim-role":
		// Lets the SDK's default credential chain work against the simulator.
		b, _ := json.Marshal(map[string]string{"Code": "Success", "Type": "AWS-HMAC",
			"AccessKeyId": "ASIASIMULATOR", "SecretAccessKey": "simulated", "Token": "simulated",
			"LastUpdated": time.Now().UTC().Format(time.RFC3339),
			"Expiration":  time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339)})
		return string(b), true
	case "network/interfaces/macs":
		var macs []string
		for _, e := range in.ENIs {
			macs = append(macs, s.w.enis[e].MAC+"/")
		}
		return strings.Join(macs, "\n"), true
	}
	rest, ok := strings.CutPrefix(p, "network/interfaces/macs/")
	if !ok {
		return "", false
	}
	mac, field, _ := strings.Cut(rest, "/")
	for i, eid := range in.ENIs {
		e := s.w.enis[eid]
		if !strings.EqualFold(e.MAC, mac) {
			continue
		}
		switch field {
		case "interface-id":
			return e.ID, true
		case "local-ipv4s":
			return strings.Join(e.IPs, "\n"), true
		case "mac":
			return e.MAC, true
		case "device-number":
			return strconv.Itoa(i), true
		case "subnet-id":
			return e.SubnetID, true
		case "vpc-id":
			return e.VpcID, true
		}
	}
	return "", false
}
