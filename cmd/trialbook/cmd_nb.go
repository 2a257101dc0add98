package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"trialbook/ipynb"
	"trialbook/kernel"
	"trialbook/runner"
)

const nbRunHelp = `usage: trialbook nb run IN.ipynb [-o OUT.ipynb] [--kernel NAME] [--timeout D] [--allow-errors] [-p NAME VALUE ...]

Executes a notebook cell by cell in a fresh kernel, as nbclient/papermill do,
saving OUT after every cell (atomically: the file is always a complete
notebook).

  -o, --output OUT     where to write the executed notebook (default: IN with
                       .ipynb replaced by .out.ipynb; "-" writes to stdout at the end)
  --kernel NAME        kernelspec to use (default: the notebook's
                       metadata.kernelspec.name, else python3)
  --timeout D          per-cell limit, e.g. 30s or 5m; a cell past it is
                       interrupted (and the kernel restarted if it ignores that)
  --allow-errors       keep going after a cell raises
  --max-output BYTES   cap on one cell's output (default 10485760)
  --cwd DIR            the kernel's working directory (default: IN's directory)
  -p NAME VALUE        set a parameter; typed as papermill does (True, False,
                       None, int, float, else string) and injected in a cell
                       tagged injected-parameters after the cell tagged parameters
  -r NAME VALUE        set a parameter to the string VALUE, untyped
`

// nbRunArgs is the parsed command line of `nb run`.
type nbRunArgs struct {
	in, out, kernel, cwd string
	timeout              time.Duration
	allowErrors          bool
	maxOutput            int
	params               []runner.Param
}

// parseNBRun reads flags in any order around IN; -p takes two values, which
// the flag package cannot express.
func parseNBRun(args []string) (*nbRunArgs, error) {
	r := &nbRunArgs{}
	need := func(i, n int, name string) error {
		if i+n >= len(args) {
			return fmt.Errorf("%s needs %d value(s)", name, n)
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			if r.in != "" {
				return nil, fmt.Errorf("more than one input notebook (%s and %s)", r.in, a)
			}
			r.in = a
			continue
		}
		next := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if err := need(i, 1, name); err != nil {
				return "", err
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "-h", "--help", "-help":
			return nil, flagHelp
		case "-o", "--output", "-output":
			r.out, err = next()
		case "--kernel", "-kernel", "-k":
			r.kernel, err = next()
		case "--cwd", "-cwd":
			r.cwd, err = next()
		case "--timeout", "-timeout":
			var s string
			if s, err = next(); err == nil {
				r.timeout, err = time.ParseDuration(s)
				if err != nil || r.timeout < 0 {
					return nil, fmt.Errorf("--timeout %q: want a duration such as 30s or 5m", s)
				}
			}
		case "--max-output", "-max-output":
			var s string
			if s, err = next(); err == nil {
				r.maxOutput, err = strconv.Atoi(s)
				if err != nil || r.maxOutput <= 0 {
					return nil, fmt.Errorf("--max-output %q: want a positive number of bytes", s)
				}
			}
		case "--allow-errors", "-allow-errors":
			r.allowErrors = true
		case "-p", "--parameters", "-r", "--parameters_raw":
			if err := need(i, 2, name); err != nil {
				return nil, err
			}
			r.params = append(r.params, runner.Param{Name: args[i+1], Value: args[i+2], Raw: name == "-r" || name == "--parameters_raw"})
			i += 2
		default:
			return nil, fmt.Errorf("unknown flag %s", a)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.in == "" {
		return nil, errors.New("no input notebook")
	}
	if r.out == "" {
		r.out = strings.TrimSuffix(r.in, ".ipynb") + ".out.ipynb"
	}
	return r, nil
}

// flagHelp makes main print nothing more and exit 0.
var flagHelp = fmt.Errorf("help: %w", flag.ErrHelp)

var nbANSIPattern = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

func runNB(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(a.stdout, nbRunHelp)
			return flag.ErrHelp
		}
		return errUsage
	}
	r, err := parseNBRun(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(a.stdout, nbRunHelp)
		return err
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "trialbook nb run: %v\n", err)
		return errUsage
	}
	return nbRun(ctx, a, r)
}

func nbRun(ctx context.Context, a *app, r *nbRunArgs) error {
	nb, err := ipynb.ReadFile(r.in)
	if err != nil {
		return err
	}
	if len(r.params) > 0 {
		if _, err := runner.InjectParameters(nb, r.params); err != nil {
			return err
		}
	}
	name := r.kernel
	if name == "" {
		if ks, ok := nb.Metadata["kernelspec"].(map[string]any); ok {
			name, _ = ks["name"].(string)
		}
	}
	spec, err := kernel.FindSpec(name, kernel.SearchOptions{})
	if err != nil {
		return err
	}
	cwd := r.cwd
	if cwd == "" {
		cwd = filepath.Dir(r.in)
	}
	if st, err := os.Stat(cwd); err != nil || !st.IsDir() {
		return fmt.Errorf("--cwd %s: not a directory", cwd)
	}
	path := r.out
	if path == "-" {
		path = ""
	} else if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("-o %s: directory %s does not exist", path, dir)
		}
	}

	started := time.Now()
	k, err := kernel.Start(ctx, spec, kernel.StartOptions{Dir: cwd, Logger: a.log})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := k.Shutdown(sctx); err != nil {
			a.log.Warn().Err(err).Msg("kernel shutdown")
		}
	}()
	if ks, ok := nb.Metadata["kernelspec"].(map[string]any); !ok || ks["name"] != spec.Name {
		nb.Metadata["kernelspec"] = map[string]any{"name": spec.Name, "display_name": spec.DisplayName, "language": spec.Language}
	}

	executed := 0
	err = runner.Run(ctx, k, nb, runner.Options{
		Timeout:        r.timeout,
		AllowErrors:    r.allowErrors,
		MaxOutputBytes: r.maxOutput,
		Path:           path,
		Observer: runner.Funcs{
			OnStarted: func(i int, c *ipynb.Cell) {
				a.log.Debug().Int("cell", i).Str("id", c.ID).Msg("cell started")
			},
			OnFinished: func(i int, c *ipynb.Cell, err error) {
				if c.CellType == ipynb.CodeCell && strings.TrimSpace(c.Source) != "" {
					executed++
				}
				a.log.Debug().Int("cell", i).Err(err).Msg("cell finished")
			},
		},
	})
	if r.out == "-" {
		b, merr := nb.Marshal()
		if merr != nil {
			return merr
		}
		if _, werr := a.stdout.Write(b); werr != nil {
			return werr
		}
	}
	if err != nil {
		var ce *runner.CellError
		if errors.As(err, &ce) && len(ce.Traceback) > 0 {
			fmt.Fprintln(a.stderr, nbANSIPattern.ReplaceAllString(strings.Join(ce.Traceback, "\n"), ""))
		}
		if r.out != "-" {
			return fmt.Errorf("%w (the notebook as far as it ran is in %s)", err, r.out)
		}
		return err
	}
	if r.out != "-" {
		fmt.Fprintf(a.stdout, "%s: %d cells executed in %s\n", r.out, executed, time.Since(started).Round(10*time.Millisecond))
	}
	return nil
}
