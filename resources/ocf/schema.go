package ocf

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the ocf resource type's keys. The agent's own
// parameters (the params map) are checked against its meta-data.
func Schema() params.Schema {
	return params.Schema{
		"agent":    {Kind: params.KindString, Required: true, Doc: "`provider:type`, e.g. `heartbeat:apache`"},
		"params":   {Kind: params.KindMap, Doc: "OCF_RESKEY_* parameters, checked against the agent's meta-data"},
		"ocf_root": {Kind: params.KindString, Doc: "default `/usr/lib/ocf`"},
	}
}
