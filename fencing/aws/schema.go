package aws

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the aws fence type's keys.
func Schema() params.Schema {
	return params.Schema{
		"instance_id": {Kind: params.KindString, Required: true, Doc: "EC2 instance to stop"},
		"region":      {Kind: params.KindString, Doc: "default: the AWS SDK's region settings, then instance metadata"},
	}
}
