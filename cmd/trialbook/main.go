// Command trialbook lets AI agents run machine-learning experiments in live
// Jupyter notebooks. This is the only package where concrete types from the
// other packages are wired together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
)

// app is what every subcommand gets: where to write and how to log.
type app struct {
	stdout io.Writer
	stderr io.Writer
	log    zerolog.Logger
}

type command struct {
	name    string
	usage   string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands is the table of subcommands; each lives in its own cmd_*.go file.
func commands() []command {
	return []command{
		{"init", "init DIR --data FILE --target COL [--task T] [--metric M]", "write a starter problem.jsonnet", runInit},
		{"check", "check PROBLEM", "validate a problem file and print the resolved problem", runCheck},
		{"agents-md", "agents-md PROBLEM [-o FILE]", "render AGENTS.md from a problem file", runAgentsMD},
		{"run", "run PROBLEM.jsonnet|DIR [--trials N] [--time D] [--workers N] [--agent A] [--resume]", "run an experiment", runRun},
		{"status", "status DIR [--compare A B]", "show an experiment's progress and leaderboard, or compare two trials", runStatus},
		{"report", "report DIR", "write and execute report.ipynb", runReport},
		{"predict", "predict DIR NEW.csv|NEW.parquet [-o OUT.csv|OUT.parquet]", "apply the best model or ensemble to new rows (CSV or Parquet, in and out)", runPredict},
		{"nb", "nb run IN.ipynb [-o OUT.ipynb] [--kernel NAME] [--timeout D] [--allow-errors] [-p NAME VALUE ...]", "execute a notebook cell by cell", runNB},
		{"exec", "exec [--kernel NAME] [--timeout D] CODE", "run code in a fresh kernel and print its outputs", runExec},
		{"kernels", "kernels", "list the kernelspecs trialbook can find", runKernels},
		{"mcp", "mcp PROBLEM.jsonnet|DIR [--http 127.0.0.1:PORT] [--workers N] [--trials N] [--time D]", "serve one experiment's trials to a coding agent over MCP (stdio, or streamable HTTP)", runMCP},
		{"serve", "serve [--root DIR] [--addr 127.0.0.1:PORT]", "serve the HTTP API and event websocket for the JupyterLab panel", runServe},
		{"lab", "lab install [--prefix P]", "install the JupyterLab extension", runLab},
	}
}

// errUsage marks an error whose message is a usage line; main exits 2 on it.
var errUsage = errors.New("usage")

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

func mainCode(args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("trialbook", flag.ContinueOnError)
	global.SetOutput(stderr)
	logJSON := global.Bool("log-json", false, "write logs as JSON lines")
	verbose := global.Bool("v", false, "verbose logs")
	global.Usage = func() { usage(stderr) }
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		usage(stderr)
		return 2
	}
	a := &app{stdout: stdout, stderr: stderr, log: newLogger(stderr, *logJSON, *verbose)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands() {
		if c.name != rest[0] {
			continue
		}
		err := c.run(ctx, a, rest[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "usage: trialbook %s\n", c.usage)
			return 2
		default:
			a.log.Debug().Err(err).Str("command", c.name).Msg("failed")
			fmt.Fprintf(stderr, "trialbook %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "trialbook: unknown command %q\n\n", rest[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trialbook [--log-json] [-v] COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'trialbook COMMAND -h' for a command's flags.")
}

// newLogger is quiet by default (warnings and errors only), human-readable on
// a terminal, and structured JSON with --log-json.
func newLogger(w io.Writer, asJSON, verbose bool) zerolog.Logger {
	level := zerolog.WarnLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	if asJSON {
		return zerolog.New(w).Level(level).With().Timestamp().Logger()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}).Level(level).With().Timestamp().Logger()
}

// flags returns a command's flag set: its errors and -h go to stderr, and
// -h shows the command's usage line and summary from the table before its
// flags. name is the command's name, or "lab install"-like for a verb.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == strings.Fields(name)[0] {
				fmt.Fprintf(a.stderr, "usage: trialbook %s\n\n%s\n", c.usage, c.summary)
			}
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(a.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags wherever they appear among the positional
// arguments (`init DIR --data F` as well as `init --data F DIR`), which the
// flag package alone stops at.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
