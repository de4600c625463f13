package ipaddr

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the ipaddr resource type's keys.
func Schema() params.Schema {
	return params.Schema{
		"address":       {Kind: params.KindCIDR, Required: true, Doc: "the floating address with its prefix length, e.g. `198.18.0.100/24`"},
		"interface":     {Kind: params.KindString, Required: true, Doc: "interface to add it to"},
		"garp_count":    {Kind: params.KindInt, Default: "5", Doc: "gratuitous ARPs (IPv6: unsolicited NAs) after start"},
		"garp_interval": {Kind: params.KindDuration, Default: "200ms", Doc: "between them"},
		"garp_refresh":  {Kind: params.KindDuration, Doc: "repeat a GARP this often while running (off by default)"},
	}
}
