package execagent

import "github.com/vigil-ha/vigil/params"

// Schema is the schema of the exec resource type's keys.
func Schema() params.Schema {
	return params.Schema{
		"start":  {Kind: params.KindString, Required: true, Doc: "shell command that starts the service"},
		"stop":   {Kind: params.KindString, Required: true, Doc: "shell command that stops it (exit 0 also when already stopped)"},
		"status": {Kind: params.KindString, Required: true, Doc: "shell command: exit 0 running, 3 stopped (LSB), anything else failed"},
		"dir":    {Kind: params.KindString, Doc: "working directory"},
		"env":    {Kind: params.KindMap, Doc: "environment, e.g. `env = { FOO = \"bar\" }`"},
	}
}
