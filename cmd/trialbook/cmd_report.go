package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"trialbook/kernel"
	"trialbook/lab"
	"trialbook/specs"
)

// runReport writes and executes an experiment's report.ipynb:
// `trialbook report DIR`, at any time.
func runReport(ctx context.Context, a *app, args []string) error {
	fs := a.flags("report")
	kernelName := fs.String("kernel", "", "kernelspec to execute the report with (default: the problem's)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errUsage
	}
	dir := experimentDir(pos[0])
	p, spec, err := problemAndKernel(ctx, dir, *kernelName)
	if err != nil {
		return err
	}
	res, err := lab.WriteReport(ctx, lab.ReportOptions{Dir: dir, Spec: spec, Problem: p, Log: a.log})
	if err != nil {
		if res != nil {
			return fmt.Errorf("%w (the notebook so far is in %s)", err, res.Path)
		}
		return err
	}
	printReportResult(a, res)
	return nil
}

func printReportResult(a *app, res *lab.ReportResult) {
	fmt.Fprintf(a.stdout, "wrote %s\n", res.Path)
	if e := res.Ensemble; e != nil {
		hold := "-"
		if e.Score.Holdout != nil {
			hold = fmt.Sprintf("%.6g", *e.Score.Holdout)
		}
		fmt.Fprintf(a.stdout, "ensemble: CV %s %.6g, holdout %s; %s\n", e.Score.Metric, e.Score.CV, hold, e.Reason)
	} else if res.EnsembleNote != "" {
		fmt.Fprintf(a.stdout, "no ensemble: %s\n", res.EnsembleNote)
	}
	if len(res.Predict.Members) > 0 {
		fmt.Fprintf(a.stdout, "trialbook predict will use %s\n", res.Predict.Describe())
	}
	if res.JournalSkipped != "" {
		fmt.Fprintf(a.stdout, "note: %s\n", res.JournalSkipped)
	}
}

// experimentDir accepts an experiment folder or its problem file.
func experimentDir(arg string) string {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return filepath.Dir(arg)
	}
	return arg
}

// problemAndKernel loads the experiment's problem file, when it still
// loads, and finds the kernelspec to run on.
func problemAndKernel(ctx context.Context, dir, kernelName string) (*specs.Problem, *kernel.Spec, error) {
	if _, err := os.Stat(filepath.Join(dir, lab.JournalFile)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s has no %s: run the experiment first (trialbook run %s)", dir, lab.JournalFile, dir)
		}
		return nil, nil, err
	}
	p, err := specs.Load(ctx, dir, specs.LoadOptions{})
	if err != nil {
		return nil, nil, err
	}
	name := kernelName
	if name == "" {
		name = p.Kernel.Name
	}
	spec, err := kernel.FindSpec(name, kernel.SearchOptions{})
	if err != nil {
		return nil, nil, err
	}
	return p, spec, nil
}
