package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"trialbook/specs"
)

// runAgentsMD renders AGENTS.md from a problem file, to stdout or a file.
func runAgentsMD(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("agents-md", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
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
	return writeAgentsMDFile(*out, []byte(md))
}

// writeAgentsMDFile replaces path only once the whole content is written, so a
// reader never sees half an AGENTS.md.
func writeAgentsMDFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
