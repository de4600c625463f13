// Package builtin wires the schemas of vigil's built-in resource, fence and
// check types, each owned by its type's package, into the registry that
// config loading takes (configs.Load, configs.Validate). It is the only
// package that imports every type; configs itself stays free of them.
package builtin

import (
	awsfence "github.com/vigil-ha/vigil/fencing/aws"
	"github.com/vigil-ha/vigil/fencing/execfence"
	"github.com/vigil-ha/vigil/fencing/ipmi"
	"github.com/vigil-ha/vigil/health"
	"github.com/vigil-ha/vigil/params"
	awsres "github.com/vigil-ha/vigil/resources/aws"
	"github.com/vigil-ha/vigil/resources/execagent"
	"github.com/vigil-ha/vigil/resources/ipaddr"
	"github.com/vigil-ha/vigil/resources/ocf"
	"github.com/vigil-ha/vigil/resources/systemd"
)

// Schemas returns the schema of every built-in type, by type name. It is
// built on each call, so nobody can change another caller's copy.
func Schemas() params.Registry {
	return params.Registry{
		Resources: map[string]params.Schema{
			"ipaddr":   ipaddr.Schema(),
			"exec":     execagent.Schema(),
			"ocf":      ocf.Schema(),
			"systemd":  systemd.Schema(),
			"awseip":   awsres.EIPSchema(),
			"awsip":    awsres.PrivateIPSchema(),
			"awsroute": awsres.RouteSchema(),
			"ebs":      awsres.EBSSchema(),
		},
		Fences: map[string]params.Schema{
			"ipmi": ipmi.Schema(),
			"exec": execfence.Schema(),
			"aws":  awsfence.Schema(),
		},
		Checks: map[string]params.Schema{
			"http": health.HTTPSchema(),
			"tcp":  health.TCPSchema(),
			"exec": health.ExecSchema(),
		},
	}
}
