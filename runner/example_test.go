package runner_test

import (
	"context"
	"errors"
	"fmt"

	"trialbook/ipynb"
	"trialbook/kernel"
	"trialbook/runner"
)

// A trial runs on a kernel from a warm pool; a failing cell is fixed in
// place and re-run alone, in the same live kernel.
func ExampleSession() {
	ctx := context.Background()
	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{})
	if err != nil {
		panic(err)
	}
	pool := kernel.NewPool(ctx, spec, 2, kernel.StartOptions{})
	defer pool.Close(ctx)
	k, err := pool.Get(ctx)
	if err != nil {
		panic(err)
	}
	defer k.Shutdown(ctx)

	nb := ipynb.New()
	nb.Cells = append(nb.Cells, ipynb.NewCodeCell("data = [1, 2, 3]"), ipynb.NewCodeCell("print(sum(dta))"))
	s := runner.NewSession(k, nb, runner.Options{
		Path: "trials/001-sum.ipynb",
		Observer: runner.Funcs{
			OnOutput: func(i int, _ *ipynb.Cell, o *ipynb.Output) { fmt.Println("cell", i, o.OutputType) },
		},
	})
	err = s.Run(ctx)
	var ce *runner.CellError
	if errors.As(err, &ce) && errors.Is(err, runner.ErrCellFailed) {
		nb.Cells[ce.Index].Source = "print(sum(data))"
		err = s.RunCell(ctx, ce.Index)
	}
	if err != nil {
		panic(err)
	}
}
