package systemd

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the systemd resource type's keys.
func Schema() params.Schema {
	return params.Schema{
		"unit": {Kind: params.KindString, Required: true, Doc: "e.g. `haproxy.service`"},
	}
}
