package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"trialbook/agent"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/lab"
	"trialbook/specs"
)

// runRun runs or resumes an experiment: `trialbook run PROBLEM.jsonnet|DIR`.
// The experiment folder is the problem file's folder.
func runRun(ctx context.Context, a *app, args []string) error {
	fs := a.flags("run")
	trials := fs.Int("trials", 0, "stop after this many finished trials (overrides the problem's budget)")
	budget := fs.Duration("time", 0, "stop after this much running time, e.g. 20m (overrides the problem's budget)")
	workers := fs.Int("workers", 1, "trials to run at once, each in its own kernel")
	agentKind := fs.String("agent", "", "who proposes trials: builtin, openai or anthropic (default: the problem's agent.kind)")
	model := fs.String("model", "", "the LLM agent's model (overrides agent.model)")
	baseURL := fs.String("base-url", "", "the LLM agent's API base URL, e.g. http://localhost:11434/v1 for Ollama (overrides agent.baseURL)")
	_ = fs.Bool("resume", false, "continue an existing experiment (a plain re-run does the same)")
	noReport := fs.Bool("no-report", false, "do not write report.ipynb when the experiment finishes")
	// Flags may come before or after the problem.
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errUsage
	}
	if *workers < 1 {
		return fmt.Errorf("--workers %d: want at least 1", *workers)
	}
	p, err := specs.Load(ctx, pos[0], specs.LoadOptions{})
	if err != nil {
		return err
	}
	dir := filepath.Dir(p.File)
	kind := *agentKind
	if kind == "" {
		kind = p.Agent.Kind
	}
	if kind == "" {
		kind = "builtin"
	}
	var ag agent.Agent
	switch kind {
	case "builtin":
		b, err := agent.NewBuiltin(p)
		if err != nil {
			return err
		}
		ag = b
	case "openai", "anthropic":
		cfg := agent.ConfigFromProblem(p.Agent)
		if kind != p.Agent.Kind {
			// Another provider's model and address do not carry over.
			cfg.Model, cfg.BaseURL = "", ""
		}
		if *model != "" {
			cfg.Model = *model
		}
		if *baseURL != "" {
			cfg.BaseURL = *baseURL
		}
		cfg.Log = a.log
		llm, err := agent.NewLLMAgent(kind, cfg)
		if err != nil {
			return err
		}
		ag = llm
	default:
		return fmt.Errorf("--agent %q: want builtin, openai or anthropic", kind)
	}
	spec, err := kernel.FindSpec(p.Kernel.Name, kernel.SearchOptions{})
	if err != nil {
		return err
	}
	// Agents are shown the training part only: the holdout's labels stay
	// out of the target's summary. A view that cannot be prepared fails the
	// run below, in the journal; the whole file is profiled meanwhile.
	prof, err := lab.ProfileView(ctx, p, dir)
	if err != nil {
		if prof, err = specs.ProfileData(ctx, p); err != nil {
			return err
		}
	}
	// What confines trial kernels on this host, before AGENTS.md tells
	// agents about it.
	// (experiment.started then says it, printed second, after the budget.)
	if _, err := lab.Confine(ctx, p); err != nil {
		return err
	}
	md, err := specs.RenderAgentsMD(p, prof)
	if err != nil {
		return err
	}
	pr := newProgress(a.stdout, isTerminal(a.stdout))
	snap, err := lab.Run(ctx, lab.Options{
		Dir: dir, Problem: p, Agent: ag, AgentName: kind, Spec: spec,
		Trials: *trials, Time: *budget, Workers: *workers,
		AgentsMD: md, Profile: prof.Markdown(), GPUs: gpus(ctx),
		Progress: pr.event, Log: a.log,
	})
	pr.finish()
	if err != nil {
		return err
	}
	printLeaderboard(a.stdout, &snap, 10)
	if snap.Status == journal.StatusFinished && !*noReport {
		fmt.Fprintf(a.stdout, "\nwriting the report (trialbook report %s)...\n", dir)
		res, err := lab.WriteReport(ctx, lab.ReportOptions{Dir: dir, Spec: spec, Problem: p, Log: a.log})
		if err != nil {
			return fmt.Errorf("the experiment finished, but its report failed (retry with 'trialbook report %s'): %w", dir, err)
		}
		printReportResult(a, res)
	}
	if snap.Status == journal.StatusPaused {
		fmt.Fprintf(a.stdout, "\nStopped. Resume with: trialbook run %s\n", pos[0])
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

var gpuLine = regexp.MustCompile(`^GPU (\d+):`)

// gpus lists the GPUs nvidia-smi sees, by index; none when it is absent.
func gpus(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nvidia-smi", "-L").Output()
	if err != nil {
		return nil
	}
	return parseGPUList(string(out))
}

// parseGPUList reads the GPU indices from `nvidia-smi -L` output; MIG
// devices listed under a GPU are not separate CUDA_VISIBLE_DEVICES indices.
func parseGPUList(out string) []string {
	var ids []string
	for _, l := range strings.Split(out, "\n") {
		if m := gpuLine.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// progress shows an experiment's progress: one rewritten status line on a
// terminal, a plain line per trial event otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	start time.Time
	line  bool
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, start: time.Now()}
}

func (p *progress) event(e journal.Event, s *journal.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	plain := ""
	switch e.Type {
	case journal.ExperimentStarted, journal.ExperimentResumed:
		plain = e.Reason // the budget it runs under, and what a flag changed
		// Then how trial kernels are confined (lab.ConfinementNotice).
		var d struct{ Sandbox string }
		if json.Unmarshal(e.Data, &d) == nil && d.Sandbox != "" {
			plain += "\n" + d.Sandbox
		}
	case journal.TrialStarted:
		plain = fmt.Sprintf("trial %d started: %s", e.Trial, e.Title)
	case journal.TrialKept, journal.TrialDiscarded:
		verb := map[journal.Type]string{journal.TrialKept: "kept", journal.TrialDiscarded: "discarded"}[e.Type]
		plain = fmt.Sprintf("trial %d %s: %s", e.Trial, verb, scoreLine(e.Score))
	case journal.TrialFailed:
		plain = fmt.Sprintf("trial %d failed: %s", e.Trial, e.Reason)
	case journal.TrialInterrupted:
		plain = fmt.Sprintf("trial %d interrupted: %s", e.Trial, e.Reason)
	case journal.CellFixed:
		plain = fmt.Sprintf("trial %d: cell %d fixed by the agent", e.Trial, deref(e.Cell))
	case journal.AgentRetry:
		plain = "agent retry: " + e.Text
	case journal.ExperimentFinished, journal.ExperimentPaused, journal.ExperimentFailed:
		plain = fmt.Sprintf("experiment %s: %s", strings.TrimPrefix(string(e.Type), "experiment."), e.Reason)
	}
	status := p.status(s)
	if p.tty {
		if plain != "" {
			fmt.Fprintf(p.w, "\r\x1b[K%s\n", plain)
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s", status)
		p.line = true
		return
	}
	if plain != "" {
		fmt.Fprintf(p.w, "%s  [%s]\n", plain, status)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func deref(i *int) int {
	if i == nil {
		return -1
	}
	return *i
}

func (p *progress) status(s *journal.Snapshot) string {
	c := s.Counts
	var b strings.Builder
	if c.Total > 0 {
		fmt.Fprintf(&b, "%d/%d done", c.Done, c.Total)
	} else {
		fmt.Fprintf(&b, "%d done", c.Done)
	}
	if c.Interrupted > 0 {
		fmt.Fprintf(&b, " (%d interrupted)", c.Interrupted)
	}
	if s.Best != nil && s.Best.Score != nil {
		fmt.Fprintf(&b, " · best #%d %s %.5g", s.Best.Trial, s.Best.Score.Metric, s.Best.Score.CV)
	}
	for _, r := range s.Running {
		if r.Cell != nil {
			fmt.Fprintf(&b, " · #%d cell %d", r.Trial, *r.Cell)
		} else {
			fmt.Fprintf(&b, " · #%d starting", r.Trial)
		}
	}
	// Elapsed is the experiment's running time over all its runs, as the
	// journal tells it, so a resumed run's ETA uses every finished trial.
	el := max(time.Duration(s.Elapsed), time.Since(p.start))
	fmt.Fprintf(&b, " · %s", el.Round(time.Second))
	done := c.Done
	eta := time.Duration(-1)
	if c.Total > 0 && done > 0 && done < c.Total {
		eta = time.Duration(float64(el) / float64(done) * float64(c.Total-done))
	}
	// A time budget ends the run sooner when trials would take longer.
	if s.Problem != nil && s.Problem.TimeBudget != "" {
		if budget, err := time.ParseDuration(s.Problem.TimeBudget); err == nil {
			if left := max(budget-time.Duration(s.Elapsed), 0); eta < 0 || left < eta {
				eta = left
			}
		}
	}
	if eta >= 0 {
		fmt.Fprintf(&b, " · ETA %s", eta.Round(time.Second))
	}
	return b.String()
}

func scoreLine(s *journal.Score) string {
	if s == nil {
		return "no score"
	}
	out := fmt.Sprintf("CV %s %.5g ± %.2g", s.Metric, s.CV, s.CVStd)
	if s.Holdout != nil {
		out += fmt.Sprintf(", holdout %.5g", *s.Holdout)
	}
	return out
}
