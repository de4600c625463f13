package aws

import "github.com/vigil-ha/vigil/params"

// EIPSchema is the schema of the awseip resource type's keys.
func EIPSchema() params.Schema {
	return params.Schema{
		"allocation_id": {Kind: params.KindString, Required: true, Doc: "Elastic IP allocation"},
		"private_ip":    {Kind: params.KindIP, Doc: "private address to associate with"},
		"eni":           {Kind: params.KindString, Doc: "network interface id (default: this instance's primary ENI)"},
	}
}

// PrivateIPSchema is the schema of the awsip resource type's keys.
func PrivateIPSchema() params.Schema {
	return params.Schema{
		"address":   {Kind: params.KindIP, Required: true, Doc: "secondary private IP"},
		"interface": {Kind: params.KindString, Required: true, Doc: "local interface to add it to"},
		"eni":       {Kind: params.KindString, Doc: "network interface id (default: this instance's primary ENI)"},
	}
}

// RouteSchema is the schema of the awsroute resource type's keys.
func RouteSchema() params.Schema {
	return params.Schema{
		"route_tables": {Kind: params.KindList, Required: true, Doc: "route table ids"},
		"destination":  {Kind: params.KindCIDR, Required: true, Doc: "overlay prefix"},
		"interface":    {Kind: params.KindString, Doc: "local interface that gets `address`"},
		"address":      {Kind: params.KindIP, Doc: "overlay address to add to `interface` (default: a /32 destination's address)"},
	}
}

// EBSSchema is the schema of the ebs resource type's keys.
func EBSSchema() params.Schema {
	return params.Schema{
		"volume_id": {Kind: params.KindString, Required: true, Doc: "volume to attach"},
		"device":    {Kind: params.KindString, Required: true, Doc: "e.g. `/dev/xvdf`"},
	}
}
