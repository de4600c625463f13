package api

import (
	"sync/atomic"

	"github.com/vigil-ha/vigil/configs"
)

type liveConfig struct {
	p atomic.Pointer[configs.Config]
}

// SetConfig hands the server a reloaded configuration (`vigil reload`): its
// groups are the ones operator commands may name.
func (s *Server) SetConfig(cfg *configs.Config) { s.live.p.Store(cfg) }

// config is the configuration in force.
func (s *Server) config() *configs.Config {
	if c := s.live.p.Load(); c != nil {
		return c
	}
	return s.d.Config
}
