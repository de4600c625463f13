package agent

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"

	"github.com/vigil-ha/vigil/cluster/keyring"
	"github.com/vigil-ha/vigil/cluster/membership"
)

// openKeyring gives memberlist the persisted gossip keyring (data_dir/
// keyring.json, written by `vigil keyring`), or the configured key alone
// on a first start. Dev mode has no key and no keyring.
func (a *Agent) openKeyring(mc *membership.Config) error {
	if len(a.cfg.Cluster.GossipKey) == 0 {
		return nil
	}
	ring, notice, err := keyring.Open(filepath.Join(a.cfg.DataDir, keyring.FileName), a.cfg.Cluster.GossipKey)
	if err != nil {
		return err
	}
	if notice != "" {
		a.warnings = append(a.warnings, notice)
	}
	a.ring = ring
	mc.Keyring = ring.Memberlist()
	return nil
}

// registerKeyring adds the operator's /v1/keyring (fanned out to every
// node) and the cluster port's /v1/internal/keyring (this node's ring).
func (a *Agent) registerKeyring() {
	if a.ring == nil {
		a.api.Handle(keyring.OperatorPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeVoterErr(w, http.StatusConflict, errors.New("this agent runs without a gossip key (dev mode): there is no keyring to change"))
		}))
		return
	}
	var nodes []keyring.Node
	for _, n := range a.cfg.Nodes {
		nodes = append(nodes, keyring.Node{Name: n.Name, Address: n.Address})
	}
	svc := &keyring.Service{Ring: a.ring, Self: a.cfg.NodeName, Nodes: nodes,
		Call: func(ctx context.Context, n keyring.Node, method, path string, in, out any) error {
			return a.applier.Call(ctx, n.Name, n.Address, method, path, in, out)
		}}
	a.api.Handle("GET "+keyring.OperatorPath, svc.Operator())
	a.api.Handle("POST "+keyring.OperatorPath, svc.Operator())
	a.rpcSrv.Handle("GET "+keyring.LocalPath, svc.Local())
	a.rpcSrv.Handle("POST "+keyring.LocalPath, svc.Local())
}
