package main

import (
	"slices"
	"testing"
)

func TestSplitAddress(t *testing.T) {
	got := splitAddress([]string{"-address", "unix:///run/vigil.sock", "w", "-address", "10.0.0.13:7300", "--address=https://lb1:7400", "-heartbeat", "h:1"})
	want := []string{"-address=unix:///run/vigil.sock", "w", "-node-address=10.0.0.13:7300", "-address=https://lb1:7400", "-heartbeat", "h:1"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
