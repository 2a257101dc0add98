package specs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"trialbook/specs"
)

func ExampleLoad() {
	p, err := specs.Load(context.Background(), "testdata/problems/binary.jsonnet", specs.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Task, p.Target, p.Classes, p.Metric.Name, p.Metric.Direction, p.Validation.Kind, p.Validation.Folds)
	// Output: binary churn [no yes] auc maximize stratified_kfold 4
}

func ExampleLoad_error() {
	_, err := specs.Load(context.Background(), "testdata/bad/unknown_metric.jsonnet", specs.LoadOptions{})
	var perr *specs.Error
	if errors.As(err, &perr) {
		for _, is := range perr.Issues {
			fmt.Println(is.Field)
		}
	}
	fmt.Println(err)
	// Output:
	// metric
	// testdata/bad/unknown_metric.jsonnet: metric: "rmsee" is not a metric; did you mean "rmse"? allowed: rmse, rmsle, mae, r2, mape, logloss, auc, accuracy, f1
}

func ExampleRenderAgentsMD() {
	ctx := context.Background()
	p, err := specs.Load(ctx, "testdata/problems/regression.jsonnet", specs.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	prof, err := specs.ProfileData(ctx, p)
	if err != nil {
		fmt.Println(err)
		return
	}
	md, err := specs.RenderAgentsMD(p, prof)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "#") {
			fmt.Println(line)
		}
	}
	// Output:
	// # regression: instructions for agents
	// ## Objective
	// ## Context from the data scientist
	// ## Data
	// ## Validation and scoring
	// ## What the setup cell defines
	// ## Handing back predictions
	// ## What a trial notebook contains
	// ## Budget
	// ## Rules
	// ## If you are connected through MCP
}

func ExampleProfileFile() {
	prof, err := specs.ProfileFile(context.Background(), "testdata/data/small.csv", specs.ProfileOptions{Target: "churn"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(prof.Rows, len(prof.Columns), prof.Target.Task)
	for _, c := range prof.Target.Classes {
		fmt.Printf("%s %d %.2f\n", c.Value, c.Count, c.Share)
	}
	// Output:
	// 40 8 binary
	// no 30 0.75
	// yes 10 0.25
}
