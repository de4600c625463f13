package state

import (
	"encoding/json"
	"fmt"
	"time"
)

// Type is the 1-byte command type that prefixes every raft log entry.
type Type uint8

// IgnoreUnknown is or-ed into a type byte when older versions may skip the
// command instead of failing: it lets a newer leader add optional commands
// during a rolling upgrade.
const IgnoreUnknown Type = 0x80

// Command types. Never renumber: they are in every stored raft log.
const (
	TypeSetStandby Type = iota + 1
	TypeSetNodeStatus
	TypeAssign
	TypeGroupReport
	TypeClearHolder
	TypeResourceFailed
	TypeCleanup
	TypeSetMaintenance
	TypeRecordFence
	TypePin
	TypeRecordEvent
	TypeRestart
	TypeSetLeaving
	TypeDefineGroups
	TypeMarkUnmanaged
)

// Command is implemented by every typed command.
type Command interface {
	Type() Type
}

// SetStandby puts a node in standby (drained: hosts nothing) or back online.
type SetStandby struct {
	Node    string    `json:"node"`
	Standby bool      `json:"standby"`
	Time    time.Time `json:"time"`
}

// SetNodeStatus records the coordinator's verdict on a node.
type SetNodeStatus struct {
	Node   string    `json:"node"`
	Status string    `json:"status"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	// Boot, with Status fenced: the start time the fenced agent gossiped
	// (coordinator.BootKey), so that another one proves a reboot.
	Boot string `json:"boot,omitempty"`
}

// Assign makes Node the target of Group (Node "" = stop everywhere). It is
// refused while another node still holds the group (invariant 2).
type Assign struct {
	Group  string    `json:"group"`
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Health bool      `json:"health,omitempty"` // a health-driven move (counted apart)
	Time   time.Time `json:"time"`
}

// GroupReport is a node's report of what its executor did with a group.
type GroupReport struct {
	Group  string    `json:"group"`
	Node   string    `json:"node"`
	Epoch  uint64    `json:"epoch"`
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// ClearHolder releases a group from a holder that can no longer run it: it was
// fenced (confirmed off) or provably lost its lease.
type ClearHolder struct {
	Group  string    `json:"group"`
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// MarkUnmanaged marks Group unmanaged (Group.Unmanaged) while Node holds
// it: the leader's, for a group in maintenance by its configuration whose
// holder it lost. Maintenance by command marks held groups itself; a
// configuration is no replicated state, so the leader says it.
type MarkUnmanaged struct {
	Group  string    `json:"group"`
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// ResourceFailed counts one failure of a resource on a node.
type ResourceFailed struct {
	Group    string    `json:"group"`
	Resource string    `json:"resource"`
	Node     string    `json:"node"`
	Reason   string    `json:"reason"`
	Count    int       `json:"count,omitempty"` // set the count to at least this (on_fail = move bans the node)
	Time     time.Time `json:"time"`
}

// Cleanup forgets a group's failures (all nodes) and unblocks it; with
// Expired set it only forgets failures older than the given cutoff.
type Cleanup struct {
	Group   string    `json:"group"`
	Before  time.Time `json:"before,omitempty"` // zero: all failures
	Time    time.Time `json:"time"`
	Message string    `json:"message,omitempty"`
}

// SetMaintenance turns maintenance on or off for a group, or for the whole
// cluster when Group is empty.
type SetMaintenance struct {
	Group string    `json:"group,omitempty"`
	On    bool      `json:"on"`
	Time  time.Time `json:"time"`
}

// RecordFence appends a fencing attempt to the history.
type RecordFence struct {
	FenceRecord
}

// Pin makes an operator's `resource move` (Node set) or `resource clear` (Node "").
type Pin struct {
	Group string    `json:"group"`
	Node  string    `json:"node,omitempty"`
	Time  time.Time `json:"time"`
}

// SetLeaving marks a node that is shutting down cleanly: it hosts nothing
// new and its groups move away at once, like a standby that ends when the
// node's agent starts again.
type SetLeaving struct {
	Node    string    `json:"node"`
	Leaving bool      `json:"leaving"`
	Time    time.Time `json:"time"`
	// Boot is the start time the marking agent gossips (coordinator.BootKey):
	// an agent that gossips another is a new incarnation. Marks by earlier
	// versions have none.
	Boot string `json:"boot,omitempty"`
}

// Restart asks the group's holder to stop and start it in place.
type Restart struct {
	Group string    `json:"group"`
	Time  time.Time `json:"time"`
}

// RecordEvent appends a free-form event (warnings, operator actions).
type RecordEvent struct {
	Kind    string    `json:"kind"`
	Node    string    `json:"node,omitempty"`
	Group   string    `json:"group,omitempty"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

func (SetStandby) Type() Type     { return TypeSetStandby }
func (SetNodeStatus) Type() Type  { return TypeSetNodeStatus }
func (Assign) Type() Type         { return TypeAssign }
func (GroupReport) Type() Type    { return TypeGroupReport }
func (ClearHolder) Type() Type    { return TypeClearHolder }
func (ResourceFailed) Type() Type { return TypeResourceFailed }
func (Cleanup) Type() Type        { return TypeCleanup }
func (SetMaintenance) Type() Type { return TypeSetMaintenance }
func (RecordFence) Type() Type    { return TypeRecordFence }
func (Pin) Type() Type            { return TypePin }
func (RecordEvent) Type() Type    { return TypeRecordEvent }
func (Restart) Type() Type        { return TypeRestart }
func (SetLeaving) Type() Type     { return TypeSetLeaving }
func (MarkUnmanaged) Type() Type  { return TypeMarkUnmanaged }

// Encode serialises a command for raft: one type byte, then JSON.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", c, err)
	}
	return append([]byte{byte(c.Type())}, body...), nil
}

// Decode parses a raft log entry. An unknown type with the IgnoreUnknown flag
// returns (nil, nil): the entry is skipped.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	t := Type(b[0])
	var c Command
	switch t &^ IgnoreUnknown {
	case TypeSetStandby:
		c = &SetStandby{}
	case TypeSetNodeStatus:
		c = &SetNodeStatus{}
	case TypeAssign:
		c = &Assign{}
	case TypeGroupReport:
		c = &GroupReport{}
	case TypeClearHolder:
		c = &ClearHolder{}
	case TypeResourceFailed:
		c = &ResourceFailed{}
	case TypeCleanup:
		c = &Cleanup{}
	case TypeSetMaintenance:
		c = &SetMaintenance{}
	case TypeRecordFence:
		c = &RecordFence{}
	case TypePin:
		c = &Pin{}
	case TypeRecordEvent:
		c = &RecordEvent{}
	case TypeRestart:
		c = &Restart{}
	case TypeSetLeaving:
		c = &SetLeaving{}
	case TypeDefineGroups:
		c = &DefineGroups{}
	case TypeMarkUnmanaged:
		c = &MarkUnmanaged{}
	default:
		if t&IgnoreUnknown != 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown command type %d", t)
	}
	if err := json.Unmarshal(b[1:], c); err != nil {
		return nil, fmt.Errorf("decode command type %d: %w", t, err)
	}
	return c, nil
}
