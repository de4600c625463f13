package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestStandalone runs the command on a JSON config and drives the API,
// the admin endpoint and an instance's IMDS listener over HTTP.
func TestStandalone(t *testing.T) {
	api, md := freeAddr(t), freeAddr(t)
	hookOut := filepath.Join(t.TempDir(), "hook")
	cfg := map[string]any{
		"region": "eu-west-1", "listen": api,
		"instances": []any{map[string]any{"id": "i-lab1", "az": "eu-west-1a", "imds_listen": md,
			"enis": []any{map[string]any{"id": "eni-1", "mac": "02:00:00:00:01:01", "private_ips": []string{"198.18.1.10"}}}}},
		"knobs": map[string]any{"force_stop_delay": "10ms"},
		"hooks": map[string]any{"on_stopped": "echo $INSTANCE_ID $STATE > " + hookOut},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "sim.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, path) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	post := func(body string) string {
		var resp *http.Response
		var err error
		for range 100 { // wait for the listener
			req, _ := http.NewRequest(http.MethodPost, "http://"+api+"/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return string(out)
	}
	if out := post("Action=StopInstances&Version=2016-11-15&InstanceId.1=i-lab1&Force=true"); !strings.Contains(out, "<name>stopping</name>") {
		t.Fatalf("stop: %s", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(post("Action=DescribeInstances&Version=2016-11-15"), "<name>stopped</name>") {
		if time.Now().After(deadline) {
			t.Fatal("never stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := os.ReadFile(hookOut); strings.TrimSpace(string(got)) != "i-lab1 stopped" {
		t.Fatalf("exec hook wrote %q", got)
	}
	resp, err := http.Post("http://"+api+"/_sim/knobs", "application/json", strings.NewReader(`{"throttle_every":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out := post("Action=DescribeInstances&Version=2016-11-15"); !strings.Contains(out, "RequestLimitExceeded") {
		t.Fatalf("knob not applied: %s", out)
	}

	req, _ := http.NewRequest(http.MethodPut, "http://"+md+"/latest/api/token", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, "http://"+md+"/latest/meta-data/network/interfaces/macs/02:00:00:00:01:01/interface-id", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token", string(tok))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	eni, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(eni) != "eni-1" {
		t.Fatalf("imds interface-id %q", eni)
	}
}
