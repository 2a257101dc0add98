package agent

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"trialbook/specs"
)

// How much of the experiment's history goes into a prompt: every trial is on
// the leaderboard, the latest ones are also told in detail.
const (
	detailedTrials = 12
	planChars      = 600
	errorChars     = 800
	tracebackChars = 4000
)

// systemPrompt gives the model its role and the experiment's rules.
func systemPrompt(s State) string {
	var b strings.Builder
	b.WriteString(`You are a careful machine-learning engineer working inside trialbook.
You propose one trial at a time: a short plan and the Python code cells that carry it out.
The cells run in order in a live Jupyter kernel after the harness's setup cell, which already defines
X, y, X_holdout, folds, REPEATS, SEED, TASK, TARGET, METRIC, CLASSES, ARTIFACTS, DATA_DIR and hand_back.
folds holds REPEATS rounds of folds; start oof at zeros and accumulate oof[va] += pred / REPEATS.
Never read the holdout labels, never compute or report your own score: the harness scores the
out-of-fold and holdout predictions that your last cell passes to hand_back(oof, holdout, model=...).
Answer only with the structured output you are asked for.

The experiment's instructions (AGENTS.md) follow.

`)
	b.WriteString(strings.TrimSpace(s.AgentsMD))
	b.WriteString("\n")
	if p := strings.TrimSpace(s.Profile); p != "" && !strings.Contains(s.AgentsMD, p) {
		b.WriteString("\n## Data profile\n\n")
		b.WriteString(p)
		b.WriteString("\n")
	}
	return b.String()
}

// proposePrompt asks for the next trial, telling what was tried before.
func proposePrompt(s State) string {
	var b strings.Builder
	metric, dir := "score", specs.Minimize
	if s.Problem != nil {
		metric, dir = s.Problem.Metric.Name, s.Problem.Metric.Direction
	}
	if len(s.Trials) == 0 {
		b.WriteString("No trial has run yet. Start with a strong, simple baseline.\n\n")
	} else {
		fmt.Fprintf(&b, "## Leaderboard (%s, %s is better)\n\n", metric, better(dir))
		b.WriteString(leaderboard(s.Trials, dir, s.Best))
		b.WriteString("\n## Earlier trials, latest last\n\n")
		from := max(0, len(s.Trials)-detailedTrials)
		if from > 0 {
			fmt.Fprintf(&b, "(%d earlier trials are on the leaderboard only.)\n\n", from)
		}
		for _, t := range s.Trials[from:] {
			b.WriteString(summary(t))
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, `## Your task

Propose trial %d. Build on what worked and avoid repeating what failed or was discarded; say in the
plan which earlier trials you build on and why. The plan is markdown, a few sentences. Each cell is
plain Python (no markdown fences). Use only the names the setup cell defines and packages already
installed in the kernel. Use the folds exactly as given, and SEED wherever randomness appears. The
last cell must call hand_back(oof, holdout, model=...) with out-of-fold predictions for every row of
X and predictions for every row of X_holdout. Set family to the model family (e.g. lightgbm, ridge)
and features to a comma-separated summary of the feature work (or "none").
`, s.Next)
	return b.String()
}

func better(d specs.Direction) string {
	if d == specs.Maximize {
		return "higher"
	}
	return "lower"
}

// leaderboard is a markdown table of scored trials, best first, then the
// trials that produced no score: CV, its spread and the fold scores, never
// the holdout.
func leaderboard(trials []TrialSummary, dir specs.Direction, best int) string {
	scored := make([]TrialSummary, 0, len(trials))
	var unscored []TrialSummary
	for _, t := range trials {
		if t.Status == "failed" || t.Status == "interrupted" {
			unscored = append(unscored, t)
			continue
		}
		scored = append(scored, t)
	}
	slices.SortStableFunc(scored, func(a, b TrialSummary) int {
		if dir == specs.Maximize {
			return cmp.Compare(b.CV, a.CV)
		}
		return cmp.Compare(a.CV, b.CV)
	})
	var b strings.Builder
	b.WriteString("| trial | title | cv | ± std | folds | status |\n|---|---|---|---|---|---|\n")
	for _, t := range scored {
		status := t.Status
		if t.Number == best {
			status += " (best)"
		}
		folds := make([]string, len(t.Folds))
		for i, f := range t.Folds {
			folds[i] = fmt.Sprintf("%.4g", f)
		}
		fmt.Fprintf(&b, "| %d | %s | %.5g | %.3g | %s | %s |\n", t.Number, cell(t.Title), t.CV, t.CVStd, strings.Join(folds, " "), status)
	}
	for _, t := range unscored {
		fmt.Fprintf(&b, "| %d | %s | — | — | — | %s |\n", t.Number, cell(t.Title), t.Status)
	}
	return b.String()
}

// cell keeps a title from breaking a markdown table row.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", "/"), "\n", " ")
}

// summary tells one earlier trial in a few lines.
func summary(t TrialSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Trial %d: %s — %s", t.Number, t.Title, t.Status)
	if t.Status != "failed" && t.Status != "interrupted" {
		fmt.Fprintf(&b, " (cv %.5g ± %.3g)", t.CV, t.CVStd)
	}
	b.WriteString("\n")
	if len(t.Tags) > 0 {
		keys := make([]string, 0, len(t.Tags))
		for k := range t.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			keys[i] = k + "=" + t.Tags[k]
		}
		fmt.Fprintf(&b, "Tags: %s\n", strings.Join(keys, ", "))
	}
	if t.Reason != "" {
		fmt.Fprintf(&b, "Why %s: %s\n", t.Status, clip(t.Reason, 300))
	}
	if t.Error != "" && t.Error != t.Reason {
		fmt.Fprintf(&b, "Error: %s\n", clip(t.Error, errorChars))
	}
	if t.Plan != "" {
		fmt.Fprintf(&b, "Plan: %s\n", clip(t.Plan, planChars))
	}
	return b.String()
}

// fixPrompt asks for a replacement of one failing cell.
func fixPrompt(f FixRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Trial %d: %s\n\n%s\n\n", f.Number, f.Trial.Title, clip(f.Trial.Plan, 2*planChars))
	b.WriteString("## Cells that already ran (their variables are live in the kernel; they are not run again)\n\n")
	if f.Cell == 0 {
		b.WriteString("(none after the setup cell)\n\n")
	}
	for i := 0; i < f.Cell && i < len(f.Trial.Cells); i++ {
		fmt.Fprintf(&b, "Cell %d:\n```python\n%s\n```\n\n", i+1, f.Trial.Cells[i])
	}
	fmt.Fprintf(&b, "## The failing cell (cell %d, fix attempt %d)\n\n```python\n%s\n```\n\n", f.Cell+1, f.Attempt, f.Source)
	fmt.Fprintf(&b, "It raised %s: %s\n\nTraceback:\n```\n%s\n```\n\n", f.Ename, clip(f.Evalue, errorChars), clipTail(strings.TrimSpace(f.Traceback), tracebackChars))
	if f.Cell+1 < len(f.Trial.Cells) {
		b.WriteString("## Cells that will run after it, unchanged\n\n")
		for i := f.Cell + 1; i < len(f.Trial.Cells); i++ {
			fmt.Fprintf(&b, "Cell %d:\n```python\n%s\n```\n\n", i+1, f.Trial.Cells[i])
		}
	}
	b.WriteString(`## Your task

Return a replacement for the failing cell only: plain Python (no markdown fences) that runs in the
same live kernel, right after the cells above, and defines every name the later cells use. Keep the
trial's intent; do not hand back predictions from a different model than the plan says. In note,
say in one line what was wrong.
`)
	return b.String()
}

// trialTool is the structured answer to a proposal. Every property is
// required and no others are allowed, as OpenAI's strict json_schema asks.
func trialTool() toolSpec {
	return toolSpec{
		name:        "propose_trial",
		description: "Propose the next trial: a title, a markdown plan and the Python cells that carry it out.",
		schema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"title":    map[string]any{"type": "string", "description": "Short title, e.g. \"LightGBM on log target\"."},
				"plan":     map[string]any{"type": "string", "description": "Markdown: what is tried and why, citing earlier trials."},
				"cells":    map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "Python code cells in order; the last calls hand_back."},
				"family":   map[string]any{"type": "string", "description": "Model family, e.g. lightgbm, ridge, random_forest."},
				"features": map[string]any{"type": "string", "description": "Comma-separated summary of feature work, or none."},
			},
			"required":             []string{"title", "plan", "cells", "family", "features"},
			"additionalProperties": false,
		},
	}
}

func fixTool() toolSpec {
	return toolSpec{
		name:        "fix_cell",
		description: "Replace the failing cell with code that runs in the same live kernel.",
		schema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"source": map[string]any{"type": "string", "description": "The replacement cell's Python code."},
				"note":   map[string]any{"type": "string", "description": "One line: what was wrong."},
			},
			"required":             []string{"source", "note"},
			"additionalProperties": false,
		},
	}
}

// Limits on what a trial may look like; a bigger answer is a confused one.
const (
	maxTitle = 120
	maxCells = 40
)

// parseTrial reads and validates a proposal. Its errors are written to be
// sent back to the model, which gets one more try.
func parseTrial(text string) (Trial, error) {
	var raw struct {
		Title    *string  `json:"title"`
		Plan     *string  `json:"plan"`
		Cells    []string `json:"cells"`
		Family   string   `json:"family"`
		Features string   `json:"features"`
	}
	if err := json.Unmarshal([]byte(unfence(text)), &raw); err != nil {
		return Trial{}, fmt.Errorf("the answer is not the JSON object asked for: %v", err)
	}
	var problems []string
	if raw.Title == nil || strings.TrimSpace(*raw.Title) == "" {
		problems = append(problems, "title is empty")
	} else if len(*raw.Title) > maxTitle {
		problems = append(problems, fmt.Sprintf("title has %d characters; keep it under %d", len(*raw.Title), maxTitle))
	}
	if raw.Plan == nil || strings.TrimSpace(*raw.Plan) == "" {
		problems = append(problems, "plan is empty")
	}
	switch {
	case len(raw.Cells) == 0:
		problems = append(problems, "cells is empty; give at least one Python cell")
	case len(raw.Cells) > maxCells:
		problems = append(problems, fmt.Sprintf("%d cells; use at most %d", len(raw.Cells), maxCells))
	}
	cells := make([]string, len(raw.Cells))
	handsBack := false
	for i, c := range raw.Cells {
		cells[i] = unfence(c)
		if strings.TrimSpace(cells[i]) == "" {
			problems = append(problems, fmt.Sprintf("cell %d is empty", i+1))
		}
		if strings.Contains(cells[i], "hand_back(") {
			handsBack = true
		}
	}
	if len(raw.Cells) > 0 && !handsBack {
		problems = append(problems, "no cell calls hand_back(oof, holdout, model=...); the last cell must hand predictions back")
	}
	if len(problems) > 0 {
		return Trial{}, errors.New(strings.Join(problems, "; "))
	}
	t := Trial{Title: strings.TrimSpace(*raw.Title), Plan: strings.TrimSpace(*raw.Plan), Cells: cells}
	tags := map[string]string{}
	if f := strings.TrimSpace(raw.Family); f != "" {
		tags["family"] = f
	}
	if f := strings.TrimSpace(raw.Features); f != "" {
		tags["features"] = f
	}
	if len(tags) > 0 {
		t.Tags = tags
	}
	return t, nil
}

// parseFix reads and validates a replacement cell.
func parseFix(text, failing string) (Fix, error) {
	var raw struct {
		Source *string `json:"source"`
		Note   string  `json:"note"`
	}
	if err := json.Unmarshal([]byte(unfence(text)), &raw); err != nil {
		return Fix{}, fmt.Errorf("the answer is not the JSON object asked for: %v", err)
	}
	if raw.Source == nil || strings.TrimSpace(*raw.Source) == "" {
		return Fix{}, errors.New("source is empty; give the whole replacement cell")
	}
	src := unfence(*raw.Source)
	if strings.TrimSpace(src) == strings.TrimSpace(failing) {
		return Fix{}, errors.New("source is the failing cell unchanged; change what raised the error")
	}
	return Fix{Source: src, Note: clip(raw.Note, 300)}, nil
}

// unfence removes a markdown code fence around s. Models asked for plain
// code or JSON still wrap it in ```python … ``` now and then; the content is
// what was meant, so this is a leniency rather than a malformed answer.
func unfence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(t, "```")
	nl := strings.IndexByte(t, '\n')
	if nl < 0 {
		return s
	}
	return strings.TrimLeft(strings.TrimRight(t[nl+1:], " \t\n"), "\n")
}
