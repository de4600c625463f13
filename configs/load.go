package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Load reads the configuration at path, either one .hcl file or a directory
// whose *.hcl files are merged in name order (a key set in two files is an
// error naming both). schemas names the resource, fence and check types it
// accepts (builtin.Schemas() for vigil's own). It returns the validated
// Config, or a Diagnostics error listing every problem found.
func Load(path string, schemas Schemas) (*Config, error) {
	files, err := configFiles(path)
	if err != nil {
		return nil, Diagnostics{{File: path, Msg: err.Error()}}
	}
	d := &decoder{reporter: reporter{pos: positions{}}, resourceNames: map[string]string{}, badFences: map[string]bool{}}
	p := hclparse.NewParser()
	var bodies []hcl.Body
	for _, f := range files {
		hf, diags := p.ParseHCLFile(f)
		// One syntax error (an unclosed quote...) makes the parser misread
		// the rest of the file; only the first one per file is reliable.
		for _, dg := range diags {
			if dg.Severity == hcl.DiagError {
				d.hcl("", hcl.Diagnostics{dg})
				break
			}
		}
		if hf != nil {
			bodies = append(bodies, hf.Body)
		}
	}
	// After a syntax error the partial bodies would only add confusing
	// follow-on errors; report the syntax errors alone.
	if len(d.diags) > 0 {
		return nil, d.diags.err()
	}
	c := d.decodeConfig(bodies, schemas)
	applyDefaults(c)
	d.loadSecrets(c, schemas)
	validate(&d.reporter, c, schemas, validateOpts{
		gossipKeyFileSet: d.gossipKeyFile != "",
		badFences:        d.badFences,
		badTiming:        d.badTiming,
		droppedNodes:     d.droppedNodes,
		noCluster:        d.pos["cluster"] == (hcl.Range{}),
	})
	// Problems with no source position (a missing block) still name the config.
	for i := range d.diags {
		if d.diags[i].File == "" {
			d.diags[i].File = path
		}
	}
	if err := d.diags.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// configFiles lists the files Load reads.
func configFiles(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fileErr(abs, err)
	}
	if !st.IsDir() {
		return []string{abs}, nil
	}
	files, err := filepath.Glob(filepath.Join(abs, "*.hcl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.hcl files in directory '%s'", abs)
	}
	sort.Strings(files)
	return files, nil
}

// applyDefaults fills values that derive from other values: the local bind
// and heartbeat addresses come from this node's node block, so every node can
// share one file apart from node_name.
func applyDefaults(c *Config) {
	local := c.Local()
	if c.Cluster.Bind == "" {
		c.Cluster.Bind = local.Address
	}
	if c.Cluster.Heartbeat == "" {
		c.Cluster.Heartbeat = local.Heartbeat
	}
	if c.Cluster.API.Socket == "" && c.DataDir != "" {
		c.Cluster.API.Socket = filepath.Join(c.DataDir, defaultSocketName)
	}
}
