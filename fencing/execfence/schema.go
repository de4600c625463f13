package execfence

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the exec fence type's keys.
func Schema() params.Schema {
	return params.Schema{
		"agent":         {Kind: params.KindString, Required: true, Doc: "a ClusterLabs fence agent such as `fence_ipmilan`"},
		"params":        {Kind: params.KindMap, Doc: "key=value lines given to the agent on stdin"},
		"password_file": {Kind: params.KindString, Secret: true, Doc: "secret file, see below"},
	}
}
