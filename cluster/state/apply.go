package state

import (
	"errors"
	"fmt"
	"time"
)

// ErrHeld is returned by Assign while another node still holds the group.
var ErrHeld = errors.New("group is still held by another node")

// apply mutates d according to c. It is deterministic and does no I/O.
// A non-nil error rejects the command (nothing changed).
func (d *Data) apply(idx uint64, c Command) error {
	switch c := c.(type) {
	case *SetStandby:
		n := d.node(c.Node)
		if n.Standby == c.Standby {
			return nil
		}
		n.Standby = c.Standby
		what := "online"
		if c.Standby {
			what = "standby"
		}
		d.event(idx, c.Time, "node-"+what, c.Node, "", fmt.Sprintf("node %s set to %s", c.Node, what))
	case *SetNodeStatus:
		n := d.node(c.Node)
		if n.Status == c.Status {
			n.Reason = c.Reason // a new explanation of the same state (no event)
			return nil
		}
		prev := n.Status
		n.Status, n.Since, n.Reason = c.Status, c.Time, c.Reason
		n.FencedBoot = ""
		if c.Status == NodeFenced {
			n.FencedBoot = c.Boot
		}
		msg := fmt.Sprintf("node %s %s", c.Node, c.Status)
		if prev != "" {
			msg = fmt.Sprintf("node %s %s -> %s", c.Node, prev, c.Status)
		}
		if c.Reason != "" {
			msg += ": " + c.Reason
		}
		d.event(idx, c.Time, "node-"+c.Status, c.Node, "", msg)
	case *Assign:
		return d.assign(idx, c)
	case *DefineGroups:
		d.define(idx, c)
	case *GroupReport:
		d.report(idx, c)
	case *MarkUnmanaged:
		g := d.group(c.Group)
		if g.Holder != c.Node || g.Unmanaged {
			return nil
		}
		g.Unmanaged = true
		d.event(idx, c.Time, "group-unmanaged", c.Node, c.Group, fmt.Sprintf("group %s unmanaged on %s: %s", c.Group, c.Node, c.Reason))
	case *ClearHolder:
		g := d.group(c.Group)
		if g.Holder != c.Node || c.Node == "" {
			return nil
		}
		g.Holder, g.State, g.Reason, g.Unmanaged = "", GroupStopped, c.Reason, false
		if g.Node == c.Node {
			g.Node = ""
		}
		d.event(idx, c.Time, "group-released", c.Node, c.Group,
			fmt.Sprintf("group %s released from %s: %s", c.Group, c.Node, c.Reason))
	case *ResourceFailed:
		g := d.group(c.Group)
		r := g.resource(c.Resource)
		if r.FailCount == nil {
			r.FailCount = map[string]int{}
		}
		r.FailCount[c.Node]++
		if r.FailCount[c.Node] < c.Count {
			r.FailCount[c.Node] = c.Count
		}
		r.LastFailure, r.LastFailAt, r.LastFailOn = c.Reason, c.Time, c.Node
		d.event(idx, c.Time, "resource-failed", c.Node, c.Group,
			fmt.Sprintf("%s/%s failed on %s (fail count %d): %s", c.Group, c.Resource, c.Node, r.FailCount[c.Node], c.Reason))
	case *Cleanup:
		g := d.group(c.Group)
		changed := false
		for _, r := range g.Resources {
			if c.Before.IsZero() || r.LastFailAt.Before(c.Before) {
				if len(r.FailCount) > 0 {
					changed = true
				}
				r.FailCount = nil
			}
		}
		if c.Before.IsZero() && g.State == GroupBlocked {
			g.State, g.Reason, changed = GroupStopped, "", true
		}
		if changed {
			msg := c.Message
			if msg == "" {
				msg = "fail counts cleared for group " + c.Group
			}
			d.event(idx, c.Time, "cleanup", "", c.Group, msg)
		}
	case *SetMaintenance:
		if c.Group == "" {
			if d.Maintenance == c.On {
				return nil
			}
			d.Maintenance = c.On
			for _, g := range d.Groups {
				g.Unmanaged = g.Unmanaged || (c.On && g.Holder != "")
			}
		} else {
			g := d.group(c.Group)
			if g.Maintenance == c.On {
				return nil
			}
			g.Maintenance = c.On
			g.Unmanaged = g.Unmanaged || (c.On && g.Holder != "")
		}
		scope := "cluster"
		if c.Group != "" {
			scope = "group " + c.Group
		}
		d.event(idx, c.Time, "maintenance", "", c.Group, fmt.Sprintf("maintenance %s for %s", onOff(c.On), scope))
	case *RecordFence:
		d.Fencing = append(d.Fencing, c.FenceRecord)
		if len(d.Fencing) > maxFences {
			d.Fencing = append([]FenceRecord(nil), d.Fencing[len(d.Fencing)-maxFences:]...)
		}
		res := "succeeded"
		if !c.OK {
			res = "failed: " + c.Error
		}
		d.event(idx, c.Time, "fence", c.Target, "",
			fmt.Sprintf("fencing %s with %s (%s) %s after %s", c.Target, c.Device, c.Reason, res, c.Duration.Round(time.Millisecond)))
	case *Pin:
		g := d.group(c.Group)
		g.MovedTo = c.Node
		msg := "move constraint on " + c.Group + " cleared"
		if c.Node != "" {
			msg = fmt.Sprintf("group %s pinned to %s by operator", c.Group, c.Node)
		}
		d.event(idx, c.Time, "pin", c.Node, c.Group, msg)
	case *SetLeaving:
		n := d.node(c.Node)
		if n.Leaving == c.Leaving {
			return nil
		}
		n.Leaving = c.Leaving
		n.LeavingSince = c.Time
		n.LeavingBoot = ""
		if c.Leaving {
			n.LeavingBoot = c.Boot
		}
		msg := "node " + c.Node + " is shutting down: moving its groups away"
		if !c.Leaving {
			msg = "node " + c.Node + " agent started"
		}
		d.event(idx, c.Time, "node-leaving", c.Node, "", msg)
	case *Restart:
		g := d.group(c.Group)
		g.Restarts++
		d.event(idx, c.Time, "restart", g.Node, c.Group, "restart of group "+c.Group+" requested")
	case *RecordEvent:
		d.event(idx, c.Time, c.Kind, c.Node, c.Group, c.Message)
	default:
		return fmt.Errorf("unhandled command %T", c)
	}
	return nil
}

func (d *Data) assign(idx uint64, c *Assign) error {
	g := d.group(c.Group)
	if c.Node == g.Node {
		return nil
	}
	if c.Node != "" && g.Holder != "" && g.Holder != c.Node {
		return fmt.Errorf("assign %s to %s: %w (%s)", c.Group, c.Node, ErrHeld, g.Holder)
	}
	from := g.Node
	g.Node = c.Node
	g.Epoch++
	g.Reason = c.Reason
	if c.Node != "" {
		g.Unmanaged = g.Unmanaged && g.Holder == c.Node
		g.Holder = c.Node
		g.State = GroupStarting
		g.LastMove = c.Time
		if g.Last != "" && g.Last != c.Node {
			g.Moves++
		}
		g.Last = c.Node
		if c.Health {
			g.HealthMoves++
			g.LastHealthMove = c.Time
		}
	} else if g.Holder != "" {
		g.State = GroupStopping
	}
	var msg string
	switch {
	case c.Node == "":
		msg = fmt.Sprintf("group %s to stop on %s", c.Group, from)
	case from == "" && g.Moves > 0 && c.Health:
		msg = fmt.Sprintf("group %s moved to %s (health)", c.Group, c.Node)
	case from == "":
		msg = fmt.Sprintf("group %s assigned to %s", c.Group, c.Node)
	default:
		msg = fmt.Sprintf("group %s moved %s -> %s", c.Group, from, c.Node)
	}
	if c.Reason != "" {
		msg += ": " + c.Reason
	}
	d.event(idx, c.Time, "assign", c.Node, c.Group, msg)
	return nil
}

func (d *Data) report(idx uint64, c *GroupReport) {
	g := d.group(c.Group)
	if c.Node != g.Holder {
		if c.State == GroupStarted || c.State == GroupStarting {
			// Should never happen: the executor only runs groups it holds.
			d.event(idx, c.Time, "violation", c.Node, c.Group,
				fmt.Sprintf("%s reported group %s %s but the holder is %q", c.Node, c.Group, c.State, g.Holder))
		}
		return
	}
	if c.Epoch != g.Epoch && c.State != GroupStopped && c.State != GroupBlocked {
		return // stale report about an older assignment
	}
	prev := g.State
	g.State, g.Reason = c.State, c.Reason
	if !d.Maintenance && !g.Maintenance {
		g.Unmanaged = false // the holder manages it again, lease rules and all
	}
	if c.State == GroupStopped && g.Node != c.Node {
		g.Holder, g.Unmanaged = "", false
	}
	if prev != c.State && (c.State == GroupStarted || c.State == GroupStopped || c.State == GroupBlocked || c.State == GroupFailed) {
		msg := fmt.Sprintf("group %s %s on %s", c.Group, c.State, c.Node)
		if c.Reason != "" {
			msg += ": " + c.Reason
		}
		d.event(idx, c.Time, "group-"+c.State, c.Node, c.Group, msg)
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
