package ec2sim

import "time"

func (s *Sim) volumeArg(r req) (*volume, *apiError) {
	id := r.get("VolumeId")
	if id == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter VolumeId")
	}
	v, ok := s.w.volumes[id]
	if !ok {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	return v, nil
}

func attachmentNode(v *volume, status string) []node {
	return []node{T("volumeId", v.ID), T("instanceId", v.InstanceID), T("device", v.Device),
		T("status", status), T("attachTime", tstamp(v.AttachTime)), T("deleteOnTermination", "false")}
}

func (s *Sim) attachVolume(r req) ([]node, *apiError) {
	v, ae := s.volumeArg(r)
	if ae != nil {
		return nil, ae
	}
	id, dev := r.get("InstanceId"), r.get("Device")
	if id == "" || dev == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameters InstanceId and Device")
	}
	if e := checkInstanceIDs(s.w, []string{id}); e != nil {
		return nil, e
	}
	in := s.w.instances[id]
	if v.Status != "available" {
		return nil, errf(400, "VolumeInUse", "%s is already attached to an instance", v.ID)
	}
	if in.AZ != v.AZ {
		return nil, errf(400, "InvalidVolume.ZoneMismatch", "The volume '%s' is not in the same availability zone as instance '%s'", v.ID, id)
	}
	if in.State != "running" && in.State != "stopped" {
		return nil, errf(400, "IncorrectState", "Instance '%s' is not 'running' or 'stopped'.", id)
	}
	for _, o := range s.w.volumes {
		if o.InstanceID == id && o.Device == dev {
			return nil, errf(400, "InvalidParameterValue", "Attachment point %s is already in use", dev)
		}
	}
	v.Status, v.InstanceID, v.Device, v.Attach, v.AttachTime = "in-use", id, dev, "attaching", time.Now()
	vid := v.ID
	s.laterLocked(time.Duration(s.knobs.AttachDelay), func() {
		if cur := s.w.volumes[vid]; cur.Attach == "attaching" && cur.InstanceID == id {
			cur.Attach = "attached"
			s.recordLocked("state", map[string]string{"VolumeId": vid, "InstanceId": id, "To": "attached"}, "ok")
		}
	})
	return attachmentNode(v, "attaching"), nil
}

func (s *Sim) detachVolume(r req) ([]node, *apiError) {
	v, ae := s.volumeArg(r)
	if ae != nil {
		return nil, ae
	}
	if v.InstanceID == "" {
		return nil, errf(400, "IncorrectState", "Volume '%s' is in the 'available' state.", v.ID)
	}
	if id := r.get("InstanceId"); id != "" && id != v.InstanceID {
		return nil, errf(400, "InvalidAttachment.NotFound", "Volume '%s' is not attached to instance '%s'", v.ID, id)
	}
	out := attachmentNode(v, "detaching")
	if v.Attach != "detaching" {
		v.Attach = "detaching"
		vid, inst := v.ID, v.InstanceID
		s.laterLocked(time.Duration(s.knobs.DetachDelay), func() {
			if cur := s.w.volumes[vid]; cur.Attach == "detaching" && cur.InstanceID == inst {
				cur.Status, cur.InstanceID, cur.Device, cur.Attach = "available", "", "", ""
				s.recordLocked("state", map[string]string{"VolumeId": vid, "InstanceId": inst, "To": "available"}, "ok")
			}
		})
	}
	return out, nil
}

func (s *Sim) describeVolumes(r req) ([]node, *apiError) {
	w := s.view("DescribeVolumes")
	ids := r.list("VolumeId")
	if e := allKnown(w.volumes, ids, "InvalidVolume.NotFound", "The volume '%s' does not exist."); e != nil {
		return nil, e
	}
	f := r.filters()
	var items []node
	for _, k := range sortedKeys(w.volumes) {
		v := w.volumes[k]
		if (len(ids) > 0 && !contains(ids, v.ID)) || !match(f, "volume-id", v.ID) || !match(f, "status", v.Status) ||
			!match(f, "attachment.instance-id", v.InstanceID) {
			continue
		}
		var att []node
		if v.InstanceID != "" {
			att = append(att, E("item", attachmentNode(v, v.Attach)...))
		}
		items = append(items, E("item", T("volumeId", v.ID), T("size", "8"), T("availabilityZone", v.AZ),
			T("status", v.Status), T("createTime", tstamp(time.Unix(1700000000, 0))), T("volumeType", "gp3"),
			E("attachmentSet", att...)))
	}
	return []node{E("volumeSet", items...)}, nil
}

// laterLocked runs f after d, or right now (deterministically) when d is 0.
func (s *Sim) laterLocked(d time.Duration, f func()) {
	if d <= 0 {
		f()
		return
	}
	s.afterLocked(d, f)
}
