package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"trialbook/kernel"
)

// runKernels lists the kernelspecs trialbook can find and where it looked.
func runKernels(ctx context.Context, a *app, args []string) error {
	fs := a.flags("kernels")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errUsage
	}
	opts := kernel.SearchOptions{}
	specs, err := kernel.Specs(opts)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tLANGUAGE\tDIR")
	for _, s := range specs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.DisplayName, s.Language, s.Dir)
	}
	tw.Flush()
	if len(specs) == 0 {
		fmt.Fprintln(a.stdout, "(no kernels found; `make setup` installs one in .venv)")
	}
	fmt.Fprintln(a.stdout, "\nsearched, in order:")
	for _, d := range opts.Dirs() {
		fmt.Fprintln(a.stdout, "  "+d)
	}
	// A broken kernel.json is reported after the list of good ones.
	return err
}
