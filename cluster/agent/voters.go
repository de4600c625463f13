package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vigil-ha/vigil/cluster/api"
	"github.com/vigil-ha/vigil/cluster/raftmembers"
)

// VoterRequest and VoterReply are the API's (cluster/api/voters.go).
type (
	VoterRequest = api.VoterRequest
	VoterReply   = api.VoterReply
)

const (
	voterPath     = "/v1/internal/voters"
	voterTimeout  = 10 * time.Second
	maxVoterInput = 4 << 10
)

// registerVoters adds `vigil node add|remove` to the API; a follower
// forwards them to the leader's cluster port, where raft changes its voters.
func (a *Agent) registerVoters() {
	for _, op := range []string{"add", "remove"} {
		a.api.Handle("POST /v1/node/"+op, a.voterHandler(op, true))
	}
	a.rpcSrv.Handle("POST "+voterPath, a.voterHandler("", false))
	a.api.Handle("GET /v1/voters", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		servers, err := a.raft.Configuration()
		if err != nil {
			writeVoterErr(w, http.StatusServiceUnavailable, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(servers)
	}))
}

func (a *Agent) voterHandler(op string, forward bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req VoterRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxVoterInput)).Decode(&req); err != nil {
			writeVoterErr(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
			return
		}
		if op != "" {
			req.Op = op
		}
		if err := a.checkVoterRequest(&req); err != nil {
			writeVoterErr(w, http.StatusConflict, err)
			return
		}
		var reply VoterReply
		var err error
		if a.raft.IsLeader() || !forward {
			reply, err = a.changeVoters(req)
		} else {
			id, addr := a.raft.Leader()
			if addr == "" {
				err = errors.New("no leader: a voter change needs a leader in contact with a majority")
			} else {
				err = a.applier.Call(r.Context(), id, addr, http.MethodPost, voterPath, req, &reply)
			}
		}
		if err != nil {
			writeVoterErr(w, http.StatusConflict, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	})
}

// checkVoterRequest holds a new voter to the configuration: memberlist's
// filter, the cluster port and the state machine accept configured nodes
// only, so a node is configured on every node (and the agents restarted)
// before it becomes a voter.
func (a *Agent) checkVoterRequest(req *VoterRequest) error {
	switch req.Op {
	case "remove":
		if req.Node == "" {
			return errors.New("node remove needs a node name")
		}
		return nil
	case "add":
	default:
		return fmt.Errorf("unknown voter operation %q", req.Op)
	}
	for _, n := range a.cfg.Nodes {
		if n.Name != req.Node {
			continue
		}
		if req.Address == "" {
			req.Address = n.Address
		}
		if req.Address != n.Address {
			return fmt.Errorf("-address %s differs from node %q's address %s in this node's configuration: update the node block on every node first", req.Address, n.Name, n.Address)
		}
		if req.Heartbeat != "" && req.Heartbeat != n.Heartbeat {
			return fmt.Errorf("-heartbeat %s differs from node %q's heartbeat %s in this node's configuration: update the node block on every node first", req.Heartbeat, n.Name, n.Heartbeat)
		}
		return nil
	}
	return fmt.Errorf("%q is not in this node's configuration: add a node block for it on every node and restart the agents one at a time first "+
		"(the heartbeat link and the cluster port accept configured nodes only)", req.Node)
}

func (a *Agent) changeVoters(req VoterRequest) (VoterReply, error) {
	if req.Op == "remove" {
		// A removed node hears no leader any more: its lease runs out and it
		// stops its groups, like a partition. Move them away on purpose first.
		for _, g := range a.fsm.Read().Groups {
			if g.Node == req.Node || g.Holder == req.Node {
				return VoterReply{}, fmt.Errorf("%s runs group %s: `vigil node standby %s` first, so that its groups move before it leaves the voters", req.Node, g.Name, req.Node)
			}
		}
	}
	v, err := a.raft.ChangeVoters(raftmembers.Change{Op: req.Op, ID: req.Node, Address: req.Address}, voterTimeout)
	if err != nil {
		return VoterReply{}, err
	}
	if !v.NoOp {
		a.log.Info("raft voters changed", "op", req.Op, "node", req.Node, "voters", v.Voters)
	}
	return VoterReply{Voters: v.Voters, NoOp: v.NoOp, Warning: v.Warning}, nil
}

// voterWarning compares raft's voters with the configuration (leader only:
// its configuration is the latest).
func (a *Agent) voterWarning() string {
	if !a.raft.IsLeader() {
		return ""
	}
	servers, err := a.raft.Configuration()
	if err != nil {
		return ""
	}
	var names []string
	for _, n := range a.cfg.Nodes {
		names = append(names, n.Name)
	}
	return raftmembers.Disagreement(servers, names)
}

func writeVoterErr(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
