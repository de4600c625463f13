package main

import (
	"context"
	"os"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/raftmembers"
	"github.com/vigil-ha/vigil/configs"
)

// raftDisagreement asks the agent running with this configuration (on its
// API socket, if it is there) for raft's voters and compares them with the
// node blocks: after `vigil node add|remove` the files must follow. No
// agent, no answer: nothing to compare, and validation does not depend on it.
func raftDisagreement(cfg *configs.Config) string {
	sock := cfg.Cluster.API.Socket
	if sock == "" {
		return ""
	}
	if _, err := os.Stat(sock); err != nil {
		return ""
	}
	cl, err := api.NewClient("unix://"+sock, nil)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	servers, err := cl.Voters(ctx)
	if err != nil {
		return ""
	}
	var names []string
	for _, n := range cfg.Nodes {
		names = append(names, n.Name)
	}
	if d := raftmembers.Disagreement(servers, names); d != "" {
		return d + " (as the running agent on " + sock + " sees raft)"
	}
	return ""
}
