package ipmi

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the ipmi fence type's keys.
func Schema() params.Schema {
	return params.Schema{
		"host":          {Kind: params.KindString, Required: true, Doc: "BMC address"},
		"port":          {Kind: params.KindInt, Doc: "IPMI port (default 623)"},
		"username":      {Kind: params.KindString, Required: true},
		"password_file": {Kind: params.KindString, Required: true, Secret: true, Doc: "secret file, see below"},
		"cipher_suite":  {Kind: params.KindString, Doc: "ipmitool `-C` value, e.g. `17` (default 3)"},
		"ipmitool_path": {Kind: params.KindString, Doc: "path to ipmitool"},
	}
}
