package mcpserver

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"trialbook/agent"
	"trialbook/ipynb"
	"trialbook/lab"
	"trialbook/specs"
)

// What the model reads is built from agent.State, agent.Outcome and the
// trial notebooks, none of which carries a holdout score; the journal's
// snapshot is read for counts and time only.

// experimentText is the experiment tool's answer.
func (s *Server) experimentText() string {
	st := s.x.State()
	p := st.Problem
	var b strings.Builder
	fmt.Fprintf(&b, "# Experiment: %s\n\n", p.Name)
	dir := "lower is better"
	if s.maximize() {
		dir = "higher is better"
	}
	fmt.Fprintf(&b, "Task: %s. Target: %s. Metric: %s (%s), scored by the harness on %s-fold %s cross-validation from the out-of-fold predictions you hand back.\n",
		p.Task, p.Target, p.Metric.Name, dir, strconv.Itoa(p.Validation.Folds), p.Validation.Kind)
	fmt.Fprintf(&b, "\n## Budget\n\n%s\n", s.budgetLine())
	if d := p.Budget.CellTime; d > 0 {
		fmt.Fprintf(&b, "- each cell may run %s; past it the trial fails\n", d)
	}
	if d := p.Budget.TrialTime; d > 0 {
		fmt.Fprintf(&b, "- each trial may run %s; past it the trial fails\n", d)
	}
	fmt.Fprintf(&b, "- trials open at once: at most %d\n", s.opts.Workers)
	cells := p.Budget.CellsPerTrial
	if cells <= 0 {
		cells = specs.DefaultCellsPerTrial
	}
	fmt.Fprintf(&b, "- cells per trial: at most %d; a cell may be replaced %d times\n", cells, p.Agent.FixAttempts)
	b.WriteString("\n## Leaderboard (CV on the fixed folds; the harness's scores)\n\n")
	if len(st.Trials) == 0 {
		b.WriteString("No trials yet.\n")
	} else {
		b.WriteString("| trial | title | status | CV ± std | folds | reason |\n|---|---|---|---|---|---|\n")
		for _, t := range st.Trials {
			cv := ""
			if t.Status == "kept" || t.Status == "discarded" || t.Status == "scored" {
				cv = fmt.Sprintf("%.6g ± %.3g", t.CV, t.CVStd)
			}
			best := ""
			if t.Number == st.Best {
				best = " (best)"
			}
			fmt.Fprintf(&b, "| %d%s | %s | %s | %s | %s | %s |\n", t.Number, best, cell(t.Title), t.Status, cv, folds(t.Folds), cell(t.Reason))
		}
	}
	for _, title := range []string{"What the setup cell defines", "Handing back predictions", "Rules"} {
		if sec := section(st.AgentsMD, title); sec != "" {
			b.WriteString("\n" + sec + "\n")
		}
	}
	b.WriteString("\nThe whole contract is the AGENTS.md resource. Use trial(n) to read an earlier trial's plan and cells.\n")
	return b.String()
}

// maximize says whether the metric is better when larger.
func (s *Server) maximize() bool {
	if snap := s.x.Snapshot(); snap.Problem != nil {
		return snap.Problem.Direction == "maximize"
	}
	return false
}

// budgetLine says what the budgets allow and what is left.
func (s *Server) budgetLine() string {
	b := s.budget()
	var parts []string
	if b.trials > 0 {
		parts = append(parts, fmt.Sprintf("trials: %d done of %d, %d running, %d left to start", b.used, b.trials, b.running, max(b.trials-b.used-b.running, 0)))
	} else {
		parts = append(parts, fmt.Sprintf("trials: %d done, %d running, no trial limit", b.used, b.running))
	}
	if b.time > 0 {
		parts = append(parts, fmt.Sprintf("time: %s used of %s, %s left", b.elapsed.Round(time.Second), b.time, max(b.time-b.elapsed, 0).Round(time.Second)))
	}
	line := "- " + strings.Join(parts, "\n- ")
	if why := s.spent(); why != "" {
		line += "\n- the budget is spent (" + why + "): start no more trials"
	}
	return line
}

// section is the body of AGENTS.md's "## title" section, heading included.
func section(md, title string) string {
	head := "## " + title + "\n"
	i := strings.Index(md, head)
	if i < 0 {
		return ""
	}
	rest := md[i+len(head):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return strings.TrimSpace(head + rest)
}

func cell(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", "/")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func folds(f []float64) string {
	parts := make([]string, len(f))
	for i, v := range f {
		parts[i] = strconv.FormatFloat(v, 'g', 5, 64)
	}
	return strings.Join(parts, ", ")
}

// outcomeText is finish_trial's answer.
func outcomeText(o agent.Outcome) string {
	return fmt.Sprintf("Trial %d scored by the harness: %s CV %.6g ± %.3g (folds: %s).\n%s: %s\nThe best trial is now trial %d.",
		o.Number, o.Metric, o.CV, o.CVStd, folds(o.Folds), strings.ToUpper(o.Status[:1])+o.Status[1:], o.Reason, o.Best)
}

// cellResult turns an executed cell into MCP content: one text block
// (outputs in order, cut to MaxText with a note; an exception with the end
// of its traceback) and one image block per image.
func (s *Server) cellResult(n int, r agent.CellResult) *mcp.CallToolResult {
	var b strings.Builder
	fmt.Fprintf(&b, "trial %d, cell %d ran in %s", n, r.Index, r.Duration.Round(10*time.Millisecond))
	if r.Error != nil {
		fmt.Fprintf(&b, " and raised %s: %s", r.Error.Ename, r.Error.Evalue)
	}
	b.WriteString("\n")
	var images []mcp.Content
	var text strings.Builder
	for _, o := range r.Outputs {
		switch o.Type {
		case "stream":
			text.WriteString(o.Text)
		case "error":
			// The exception is reported below, with its traceback.
		default:
			if o.Text != "" && len(o.Images) == 0 {
				text.WriteString(o.Text + "\n")
			}
		}
		for _, im := range o.Images {
			data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(im.Base64), ""))
			if err != nil {
				continue
			}
			images = append(images, &mcp.ImageContent{Data: data, MIMEType: im.MIME})
		}
	}
	if out := text.String(); out != "" {
		b.WriteString("output:\n" + cut(out, s.opts.MaxText))
		if !strings.HasSuffix(out, "\n") {
			b.WriteString("\n")
		}
	} else if r.Error == nil {
		b.WriteString("(no output)\n")
	}
	if r.Error != nil {
		fmt.Fprintf(&b, "traceback (the end):\n%s\n", trimTraceback(r.Error.Traceback, 25, 3000))
		fmt.Fprintf(&b, "Fix it in place with replace_cell(trial=%d, index=%d, code=...).", n, r.Index)
	}
	if len(images) > 0 {
		fmt.Fprintf(&b, "\n%d image(s) follow.", len(images))
	}
	return &mcp.CallToolResult{Content: append([]mcp.Content{&mcp.TextContent{Text: b.String()}}, images...)}
}

// cut keeps the start and end of text within max bytes, with a note on what
// was cut.
func cut(text string, max int) string {
	if len(text) <= max {
		return text
	}
	head, tail := text[:max/2], text[len(text)-max/2:]
	// Keep whole UTF-8 sequences.
	head = strings.ToValidUTF8(head, "")
	tail = strings.ToValidUTF8(tail, "")
	return fmt.Sprintf("%s\n[... %d characters cut here: print less, or save long output to ARTIFACTS and print a summary ...]\n%s",
		head, len(text)-len(head)-len(tail), tail)
}

// trimTraceback keeps the last lines of a traceback, and at most max bytes.
func trimTraceback(tb string, lines, max int) string {
	ls := strings.Split(strings.TrimRight(tb, "\n"), "\n")
	note := ""
	if len(ls) > lines {
		note = fmt.Sprintf("[... %d earlier lines]\n", len(ls)-lines)
		ls = ls[len(ls)-lines:]
	}
	out := strings.Join(ls, "\n")
	if len(out) > max {
		out = strings.ToValidUTF8(out[len(out)-max:], "")
		note = "[... earlier part cut]\n"
	}
	return note + out
}

// setupOutput is what the setup cell of sess printed, from its notebook.
func (s *Server) setupOutput(sess *lab.Session) string {
	nb, err := ipynb.ReadFile(filepath.Join(s.opts.Dir, filepath.FromSlash(sess.Notebook())))
	if err != nil {
		return "(the notebook could not be read: " + err.Error() + ")"
	}
	for _, c := range nb.Cells {
		if c.HasTag("trialbook-setup") {
			return cut(strings.TrimSpace(outputText(c)), s.opts.MaxText)
		}
	}
	return "(no setup cell)"
}

// outputText is the text of a cell's outputs.
func outputText(c *ipynb.Cell) string {
	var b strings.Builder
	for _, o := range c.Outputs {
		switch o.OutputType {
		case ipynb.StreamOutput:
			b.WriteString(o.Text)
		case ipynb.ExecuteResultOutput, ipynb.DisplayDataOutput:
			if t, ok := o.Data["text/plain"].(string); ok {
				b.WriteString(t + "\n")
			}
		case ipynb.ErrorOutput:
			fmt.Fprintf(&b, "%s: %s\n", o.EName, o.EValue)
		}
	}
	return b.String()
}

// trialText is the trial tool's answer: an earlier trial as the journal and
// its notebook tell it.
func (s *Server) trialText(n int) (string, error) {
	st := s.x.State()
	var t *agent.TrialSummary
	for i := range st.Trials {
		if st.Trials[i].Number == n {
			t = &st.Trials[i]
		}
	}
	if t == nil {
		if len(st.Trials) == 0 {
			return "", fmt.Errorf("there is no trial %d: no trials have run yet", n)
		}
		return "", fmt.Errorf("there is no trial %d: trials are numbered %d to %d", n, st.Trials[0].Number, st.Trials[len(st.Trials)-1].Number)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Trial %d: %s\n\nstatus: %s", t.Number, t.Title, t.Status)
	if t.Reason != "" {
		fmt.Fprintf(&b, " (%s)", t.Reason)
	}
	if t.Status == "kept" || t.Status == "discarded" {
		fmt.Fprintf(&b, "\nCV: %.6g ± %.3g (folds: %s)", t.CV, t.CVStd, folds(t.Folds))
	}
	fmt.Fprintf(&b, "\nnotebook: %s\n", t.Notebook)
	nb, err := ipynb.ReadFile(filepath.Join(s.opts.Dir, filepath.FromSlash(t.Notebook)))
	if err != nil {
		fmt.Fprintf(&b, "\n(the notebook could not be read: %v)\n", err)
		return b.String(), nil
	}
	idx := 0
	for i, c := range nb.Cells {
		switch {
		case i == 0 && c.CellType == ipynb.MarkdownCell:
			b.WriteString("\n## Plan\n\n" + strings.TrimSpace(c.Source) + "\n")
		case c.HasTag("trialbook-setup"):
			b.WriteString("\n(the harness's setup cell)\n")
		case c.CellType == ipynb.CodeCell:
			fmt.Fprintf(&b, "\n## Cell %d\n\n```python\n%s\n```\n", idx, strings.TrimRight(c.Source, "\n"))
			if out := strings.TrimSpace(outputText(c)); out != "" {
				fmt.Fprintf(&b, "output:\n```\n%s\n```\n", cut(out, 1500))
			}
			idx++
		}
	}
	return b.String(), nil
}
