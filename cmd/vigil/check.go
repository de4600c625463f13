package main

import (
	"errors"
	"fmt"

	"github.com/vigil-ha/vigil/configs"
	"github.com/vigil-ha/vigil/resources/ocf"
)

// checkAgents runs the checks that need the agents themselves (an OCF
// agent's meta-data), after the config itself loaded cleanly.
func checkAgents(cfg *configs.Config) error {
	var errs []error
	for _, g := range cfg.Groups {
		for _, r := range g.Resources {
			if r.Type != "ocf" {
				continue
			}
			if err := ocf.Validate(r.Params); err != nil {
				errs = append(errs, fmt.Errorf("group.%s.resource.%s (ocf:%s): %w", g.Name, r.Name, r.Params["agent"], err))
			}
		}
	}
	return errors.Join(errs...)
}
