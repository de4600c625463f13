package api

import "time"

// Status is what `vigil status -json` prints and GET /v1/status returns.
type Status struct {
	Cluster     string        `json:"cluster"`
	Node        string        `json:"node"`   // the node that answered
	Leader      string        `json:"leader"` // "" while there is none
	Term        uint64        `json:"term"`
	Quorum      bool          `json:"quorum"` // the answering node is in contact with a quorum
	Maintenance bool          `json:"maintenance"`
	Nodes       []NodeStatus  `json:"nodes"`
	Groups      []GroupStatus `json:"groups"`
	Checks      []CheckStatus `json:"checks,omitempty"`
	Fencing     []FenceRecord `json:"fencing,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`

	// FenceDevices are the latest checks of the fence devices, from every
	// node that answered; Failures are resource operations that keep failing.
	FenceDevices []FenceDeviceStatus `json:"fence_devices,omitempty"`
	Failures     []OpFailure         `json:"failures,omitempty"`
	// Voters and Nonvoters are the raft configuration as the answering
	// node knows it (two_node: one voter while the peer is fenced).
	Voters    []string `json:"voters,omitempty"`
	Nonvoters []string `json:"nonvoters,omitempty"`
}

// CheckStatus is one health check on one node.
type CheckStatus struct {
	Node        string    `json:"node"`
	Group       string    `json:"group,omitempty"` // "" = node-wide
	Name        string    `json:"name"`
	State       string    `json:"state"` // unknown | healthy | unhealthy
	Consecutive int       `json:"consecutive"`
	Output      string    `json:"output,omitempty"`
	At          time.Time `json:"at,omitzero"`
	Since       time.Time `json:"since,omitzero"`
}

// Local is one node's own view, fetched by the leader to build Status.
type Local struct {
	Node      string                       `json:"node"`
	Checks    []CheckStatus                `json:"checks"`
	Resources map[string]map[string]string `json:"resources"` // group -> resource -> state

	// Failures and FenceDevices: see Status.
	Failures     []OpFailure         `json:"failures,omitempty"`
	FenceDevices []FenceDeviceStatus `json:"fence_devices,omitempty"`
}

// FenceRequest is the body of POST /v1/fence.
type FenceRequest struct {
	Node string `json:"node"`
	// Confirm: no device is used; the operator confirms that the node is
	// powered off (`vigil fence -confirm`), and it is recorded as fenced.
	Confirm bool `json:"confirm,omitempty"`
}

// NodeStatus is one node as the cluster sees it.
type NodeStatus struct {
	Name        string   `json:"name"`
	Role        string   `json:"role"`         // node | witness
	State       string   `json:"state"`        // online | standby | leaving | offline | failed | fenced
	Standby     bool     `json:"standby"`      // replicated standby flag
	Heartbeat   string   `json:"heartbeat"`    // memberlist on the dedicated link: ok | suspect | lost
	ClusterLink string   `json:"cluster_link"` // raft on the cluster link: ok | lost | unknown
	Leader      bool     `json:"leader"`
	Warnings    []string `json:"warnings,omitempty"`
	// CertExpires is when the node's cluster certificate expires, as it
	// gossips it (zero: unknown, or no TLS).
	CertExpires time.Time `json:"cert_expires,omitzero"`
}

// GroupStatus is one resource group.
type GroupStatus struct {
	Name        string `json:"name"`
	Node        string `json:"node"`  // where it is assigned ("" = nowhere)
	State       string `json:"state"` // started | starting | stopping | stopped | blocked | failed
	Maintenance bool   `json:"maintenance"`
	// Unmanaged: left running in maintenance and its holder has not reported
	// on it since (the leader releases it by no lease until then).
	Unmanaged   bool             `json:"unmanaged,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	Moves       int              `json:"moves"`        // times it moved to another node
	HealthMoves int              `json:"health_moves"` // of which driven by health checks
	Resources   []ResourceStatus `json:"resources"`
	PinnedTo    string           `json:"pinned_to,omitempty"` // an operator's `resource move` pin ("" = none)
	Pin         string           `json:"pin,omitempty"`       // the pin in words, with how to remove it
}

// ResourceStatus is one resource inside a group.
type ResourceStatus struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	State       string    `json:"state"`
	FailCount   int       `json:"fail_count"`
	LastFailure string    `json:"last_failure,omitempty"`
	LastFailAt  time.Time `json:"last_failure_at,omitzero"`
}

// FenceRecord is one fencing operation from the replicated history.
type FenceRecord struct {
	Time     time.Time     `json:"time"`
	Target   string        `json:"target"`
	Device   string        `json:"device"`
	Reason   string        `json:"reason"`
	Result   string        `json:"result"` // ok | failed
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
}

// Event is one entry of `vigil history`.
type Event struct {
	Index   uint64    `json:"index"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Node    string    `json:"node,omitempty"`
	Group   string    `json:"group,omitempty"`
	Message string    `json:"message"`
}

// Member is one entry of `vigil members` (the heartbeat link's view).
type Member struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	State  string            `json:"state"` // alive | suspect | dead | left
	Role   string            `json:"role"`
	Meta   map[string]string `json:"meta,omitempty"`
	Voter  bool              `json:"voter"`
	Leader bool              `json:"leader"`
}
