package main

import (
	"github.com/vigil-ha/vigil/fencing"
	awsfence "github.com/vigil-ha/vigil/fencing/aws"
	"github.com/vigil-ha/vigil/fencing/execfence"
	"github.com/vigil-ha/vigil/fencing/ipmi"
	"github.com/vigil-ha/vigil/health"
	"github.com/vigil-ha/vigil/resources"
	awsres "github.com/vigil-ha/vigil/resources/aws"
	"github.com/vigil-ha/vigil/resources/execagent"
	"github.com/vigil-ha/vigil/resources/ipaddr"
	"github.com/vigil-ha/vigil/resources/ocf"
	"github.com/vigil-ha/vigil/resources/systemd"
)

// The registries of built-in types live here, not in package globals.

func resourceRegistry() resources.Registry {
	return resources.Registry{
		"ipaddr":   ipaddr.NewWithLifetime(0), // permanent addresses; one announcer for all
		"exec":     execagent.New,
		"ocf":      ocf.New,
		"systemd":  systemd.New,
		"awseip":   awsres.NewEIP,
		"awsip":    awsres.NewPrivateIP,
		"awsroute": awsres.NewRoute,
		"ebs":      awsres.NewEBS,
	}
}

func fenceRegistry() fencing.Registry {
	return fencing.Registry{
		"ipmi": ipmi.New,
		"exec": execfence.New,
		"aws":  awsfence.New,
	}
}

func checkRegistry() health.Registry {
	return health.Registry{
		"http": health.NewHTTP,
		"tcp":  health.NewTCP,
		"exec": health.NewExec,
	}
}
