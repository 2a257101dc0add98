package main

import (
	"context"
	"fmt"

	"trialbook/lab"
)

// runPredict applies the best model or ensemble to new rows:
// `trialbook predict DIR NEW.csv -o predictions.csv` (NEW may be Parquet,
// and so may the output: -o predictions.parquet).
func runPredict(ctx context.Context, a *app, args []string) error {
	fs := a.flags("predict")
	out := fs.String("o", "predictions.csv", "where to write the predictions (CSV, or Parquet for .parquet)")
	kernelName := fs.String("kernel", "", "kernelspec to predict with (default: the problem's)")
	// Flags may come before or after the arguments.
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errUsage
	}
	dir := experimentDir(pos[0])
	p, spec, err := problemAndKernel(ctx, dir, *kernelName)
	if err != nil {
		return err
	}
	res, err := lab.Predict(ctx, lab.PredictOptions{Dir: dir, Input: pos[1], Output: *out, IDs: p.Features.IDs, Spec: spec, Problem: p, Log: a.log})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %d predictions to %s using %s\n", res.Rows, *out, res.Model.Describe())
	return nil
}
