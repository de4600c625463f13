package main

import (
	"maps"
	"slices"
	"testing"

	"github.com/vigil-ha/vigil/builtin"
)

// Every type the agent can build has a schema for config validation and
// the docs, and every type with a schema can be built.
func TestRegistriesMatchSchemas(t *testing.T) {
	s := builtin.Schemas()
	for _, c := range []struct {
		kind           string
		built, schemas []string
	}{
		{"resource", slices.Sorted(maps.Keys(resourceRegistry())), slices.Sorted(maps.Keys(s.Resources))},
		{"fence", slices.Sorted(maps.Keys(fenceRegistry())), slices.Sorted(maps.Keys(s.Fences))},
		{"check", slices.Sorted(maps.Keys(checkRegistry())), slices.Sorted(maps.Keys(s.Checks))},
	} {
		if !slices.Equal(c.built, c.schemas) {
			t.Errorf("%s types: constructors for %v, schemas for %v", c.kind, c.built, c.schemas)
		}
	}
}
