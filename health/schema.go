package health

import "github.com/vigil-ha/vigil/params"

// HTTPSchema is the schema of the http check type's keys.
func HTTPSchema() params.Schema {
	return params.Schema{
		"url":            {Kind: params.KindString, Required: true, Doc: "`http://` or `https://`"},
		"method":         {Kind: params.KindString, Default: "GET", Doc: "HTTP method"},
		"expect_status":  {Kind: params.KindString, Default: "200-399", Doc: "also `200`, `200,204`, `200-299,304`"},
		"body_contains":  {Kind: params.KindString, Doc: "not with `HEAD`"},
		"tls_verify":     {Kind: params.KindBool, Default: "true"},
		"source_address": {Kind: params.KindIP, Doc: "local address to connect from"},
	}
}

// TCPSchema is the schema of the tcp check type's keys.
func TCPSchema() params.Schema {
	return params.Schema{
		"address":        {Kind: params.KindHostPort, Required: true},
		"send":           {Kind: params.KindString, Doc: "bytes to send (`\\n`, `\\r`, `\\t` escapes)"},
		"expect":         {Kind: params.KindString, Doc: "bytes the reply must contain"},
		"source_address": {Kind: params.KindIP, Doc: "local address to connect from"},
	}
}

// ExecSchema is the schema of the exec check type's keys.
func ExecSchema() params.Schema {
	return params.Schema{
		"command": {Kind: params.KindString, Required: true, Doc: "run with `/bin/sh -c`; exit 0 means healthy"},
	}
}
