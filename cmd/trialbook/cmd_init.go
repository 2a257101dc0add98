package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"trialbook/ipynb"
	"trialbook/specs"
)

// runInit writes a commented starter problem.jsonnet into DIR.
func runInit(ctx context.Context, a *app, args []string) error {
	fs := a.flags("init")
	var opts specs.InitOptions
	fs.StringVar(&opts.Data, "data", "", "the dataset, CSV or Parquet (required)")
	fs.StringVar(&opts.Target, "target", "", "the column to predict (required)")
	fs.StringVar(&opts.Task, "task", "", "regression, binary, multiclass or classification (default: guessed from the target)")
	fs.StringVar(&opts.Metric, "metric", "", "the metric (default: the task's usual one); one of "+strings.Join(specs.MetricNames(""), ", "))
	fs.StringVar(&opts.Name, "name", "", "the problem's name (default: the folder's name)")
	fs.StringVar(&opts.Context, "context", "", "free text for agents: what a row is, units, quirks")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("want one folder, got %d arguments: %w", len(pos), errUsage)
	}
	path, guessed, err := specs.Init(pos[0], opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s\n", path)
	for _, g := range guessed {
		fmt.Fprintf(a.stdout, "  guessed %s\n", g)
	}
	// AGENTS.md beside it, so that a coding agent opened in the folder
	// reads the contract, and how to drive trials through `trialbook mcp`.
	p, err := specs.Load(ctx, path, specs.LoadOptions{})
	if err == nil {
		var prof *specs.Profile
		if prof, err = specs.ProfileData(ctx, p); err == nil {
			var md string
			if md, err = specs.RenderAgentsMD(p, prof); err == nil {
				mdPath := filepath.Join(filepath.Dir(path), "AGENTS.md")
				if err = ipynb.WriteFileAtomic(mdPath, []byte(md)); err == nil {
					fmt.Fprintf(a.stdout, "wrote %s (rewritten by 'trialbook agents-md', run and mcp)\n", mdPath)
				}
			}
		}
	}
	if err != nil {
		a.log.Warn().Err(err).Msg("AGENTS.md not written; 'trialbook agents-md' writes it once the problem checks")
	}
	fmt.Fprintf(a.stdout, "next: edit it (fill in the context), then 'trialbook check %s'\n", pos[0])
	fmt.Fprintf(a.stdout, "a coding agent runs its trials through 'trialbook mcp %s' (see docs/mcp.md)\n", pos[0])
	return nil
}

// specsJPath collects repeated -J folders.
type specsJPath []string

func (j *specsJPath) String() string     { return strings.Join(*j, ",") }
func (j *specsJPath) Set(s string) error { *j = append(*j, s); return nil }

// specsExtVars collects repeated --ext-str key=value.
type specsExtVars map[string]string

func (e specsExtVars) String() string { return fmt.Sprint(map[string]string(e)) }
func (e specsExtVars) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	e[k] = v
	return nil
}

// specsLoadFlags adds -J and --ext-str to fs and returns the options they fill.
func specsLoadFlags(fs *flag.FlagSet) *specs.LoadOptions {
	opts := &specs.LoadOptions{ExtVars: map[string]string{}}
	fs.Var((*specsJPath)(&opts.JPath), "J", "add a Jsonnet import folder, searched after the embedded library and the problem's folder (repeatable)")
	fs.Var(specsExtVars(opts.ExtVars), "ext-str", "set a Jsonnet external variable, KEY=VALUE (repeatable)")
	return opts
}
