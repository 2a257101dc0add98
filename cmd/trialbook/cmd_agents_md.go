package main

import (
	"context"
	"fmt"

	"trialbook/ipynb"
	"trialbook/specs"
)

// runAgentsMD renders AGENTS.md from a problem file, to stdout or a file.
func runAgentsMD(ctx context.Context, a *app, args []string) error {
	fs := a.flags("agents-md")
	opts := specsLoadFlags(fs)
	out := fs.String("o", "", "write to this file instead of stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("want one problem file or folder, got %d arguments: %w", len(pos), errUsage)
	}
	p, err := specs.Load(ctx, pos[0], *opts)
	if err != nil {
		return err
	}
	prof, err := specs.ProfileData(ctx, p)
	if err != nil {
		return err
	}
	a.log.Debug().Int64("rows", prof.Rows).Int("columns", len(prof.Columns)).Msg("profiled data")
	md, err := specs.RenderAgentsMD(p, prof)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := fmt.Fprint(a.stdout, md)
		return err
	}
	// Replaced whole or not at all: a reader never sees half an AGENTS.md.
	return ipynb.WriteFileAtomic(*out, []byte(md))
}
