package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"trialbook/specs"
)

// runCheck validates a problem file and prints the resolved problem.
func runCheck(ctx context.Context, a *app, args []string) error {
	fs := a.flags("check")
	opts := specsLoadFlags(fs)
	asJSON := fs.Bool("json", false, "print the resolved problem as JSON")
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
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	printSpecsProblem(a.stdout, p)
	return nil
}

// printSpecsProblem shows a resolved problem for a person to read.
func printSpecsProblem(w io.Writer, p *specs.Problem) {
	row := func(k, v string) { fmt.Fprintf(w, "  %-16s %s\n", k, v) }
	onOff := map[bool]string{true: "on", false: "off"}
	fmt.Fprintf(w, "%s: ok\n", p.File)
	row("name", p.Name)
	row("task", string(p.Task))
	row("data", p.Data)
	row("target", p.Target)
	if len(p.Classes) > 0 {
		row("classes", strings.Join(p.Classes, ", "))
	}
	row("metric", fmt.Sprintf("%s (%s)", p.Metric.Name, p.Metric.Direction))
	v := fmt.Sprintf("%s, %d folds", p.Validation.Kind, p.Validation.Folds)
	if p.Validation.Group != "" {
		v += ", grouped by " + p.Validation.Group
	}
	if p.Validation.Time != "" {
		v += ", ordered by " + p.Validation.Time
	}
	if p.Validation.Repeat > 1 {
		v += fmt.Sprintf(", repeated %d times", p.Validation.Repeat)
	}
	row("validation", v)
	row("holdout", fmt.Sprint(p.Holdout))
	row("seed", fmt.Sprint(p.Seed))
	b := fmt.Sprintf("%d trials", p.Budget.Trials)
	for _, l := range []struct {
		name string
		d    interface{ String() string }
		zero bool
	}{{"total", p.Budget.Time, p.Budget.Time == 0}, {"per trial", p.Budget.TrialTime, p.Budget.TrialTime == 0}, {"per cell", p.Budget.CellTime, p.Budget.CellTime == 0}} {
		if !l.zero {
			b += fmt.Sprintf(", %s %s", l.d, l.name)
		}
	}
	row("budget", b)
	f := []string{}
	if len(p.Features.IDs) > 0 {
		f = append(f, "ids "+strings.Join(p.Features.IDs, ", "))
	}
	if len(p.Features.Exclude) > 0 {
		f = append(f, "excluded "+strings.Join(p.Features.Exclude, ", "))
	}
	if len(p.Features.Include) > 0 {
		f = append(f, "only "+strings.Join(p.Features.Include, ", "))
	}
	if len(f) == 0 {
		f = append(f, "all columns but the target")
	}
	row("features", strings.Join(f, "; "))
	k := p.Kernel.Name
	if k == "" {
		k = "python3 (the project's)"
	}
	if p.Kernel.GPU {
		k += ", GPU"
	}
	row("kernel", k)
	ag := p.Agent.Kind
	if p.Agent.Model != "" {
		ag += " " + p.Agent.Model
	}
	row("agent", fmt.Sprintf("%s, %d fix attempts per cell", ag, p.Agent.FixAttempts))
	row("featureResearch", onOff[p.FeatureResearch])
	row("explain", onOff[p.Explain])
	if p.Context != "" {
		ctx := p.Context
		if i := strings.IndexByte(ctx, '\n'); i >= 0 {
			ctx = ctx[:i] + " …"
		}
		row("context", ctx)
	}
	md := "default"
	switch {
	case p.AgentsMD.Template != "":
		md = "team template"
	case len(p.AgentsMD.Sections) > 0 || p.AgentsMD.Title != "" || p.AgentsMD.Preamble != "" || len(p.AgentsMD.Order) > 0:
		md = fmt.Sprintf("default with %d section overrides", len(p.AgentsMD.Sections))
	}
	row("AGENTS.md", md)
}
