package lab

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"trialbook/ipynb"
	"trialbook/kernel"
)

// reportNotebook builds report.ipynb's cells: markdown written from the
// report data, and code cells that read report.json and the experiment's
// files, so that the notebook executes again from the experiment folder.
func reportNotebook(d *reportData, spec *kernel.Spec) *ipynb.Notebook {
	nb := ipynb.New()
	if spec != nil {
		nb.Metadata["kernelspec"] = map[string]any{"name": spec.Name, "display_name": spec.DisplayName, "language": spec.Language}
	}
	nb.Metadata["language_info"] = map[string]any{"name": "python"}
	nb.Metadata[metaKey] = map[string]any{"report": true, "written": d.Written.Format(time.RFC3339)}
	md := func(s string) { nb.Cells = append(nb.Cells, ipynb.NewMarkdownCell(strings.TrimSpace(s))) }
	code := func(s string) { nb.Cells = append(nb.Cells, ipynb.NewCodeCell(strings.TrimSpace(s))) }
	p := d.Problem

	md(fmt.Sprintf(`# %s: experiment report

A %s problem: predict **%s**, scored by **%s** (%s) on %s, and on a sealed
holdout the agents never saw. Trials were proposed by the **%s** agent.

trialbook wrote this notebook on %s from the experiment's journal and
executed it in a kernel. The numbers come from `+"`%s`"+`, the journal as the
harness folded it when it wrote the report, with the ensemble it built;
every score was computed by the harness from the trials' saved predictions.
Run all cells again from the experiment folder to reproduce every table and plot.`,
		p.Name, p.Task, p.Target, p.Metric, p.Direction, p.Validation, p.Agent, d.Written.Format("2006-01-02 15:04 UTC"), ReportData))
	code(pySetup)

	md(summaryMarkdown(d))
	code(pyLeaderboard)
	code(pyScorePlot)

	md(ensembleMarkdown(d))
	if d.Ensemble != nil {
		code(pyEnsemble)
	}

	labelsLoaded := holdoutCells(d, md, code)

	if d.Features != nil {
		md(featuresMarkdown(d))
		code(pyFeatures)
	}

	if x := d.Explain; x != nil {
		if x.Disabled != "" {
			md("## Explainability\n\nNot available: " + x.Disabled + ".")
		} else {
			var models []string
			for _, m := range x.Members {
				models = append(models, "`"+m.Model+"`")
			}
			md(fmt.Sprintf(`## Explainability: %s

The model that `+"`trialbook predict`"+` applies, %s, loaded from %s exactly as the
trials fitted it, explained on the sealed holdout. Permutation importance needs the
holdout's labels: this report is written by the harness, so it reads them from
`+"`%s`"+`, where the harness keeps them away from the agents (no trial ever saw them).`,
				x.What, x.What, strings.Join(models, ", "), x.Labels))
			if !labelsLoaded {
				code(pyHoldoutLabels)
			}
			code(pyExplainLoad)
			md("### Permutation importance on the holdout\n\nHow much the holdout score worsens when one column's values are shuffled (3 shuffles, mean and spread): the columns the model cannot do without.")
			code(pyPermutation)
			md("### SHAP summary\n\nEach dot is one of 30 holdout rows (against a background of 10 training rows, to keep it quick): how far that column pushed the row's prediction away from the average prediction. Categorical columns are coloured by their category code.")
			code(pySHAP)
			md("### Partial dependence of the top features\n\nThe average prediction when the column is set to each value on a grid, all else as in the data.")
			code(pyPDP)
			md("### The main drivers, in plain words")
			code(pyReading)
		}
	}

	md(applyMarkdown(d))
	return nb
}

func fmtScore(v float64) string { return fmt.Sprintf("%.6g", v) }

func fmtOpt(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmtScore(*v)
}

func summaryMarkdown(d *reportData) string {
	var b strings.Builder
	c := d.Counts
	fmt.Fprintf(&b, "## Leaderboard\n\n")
	fmt.Fprintf(&b, "The experiment is **%s**", d.Status)
	if d.Reason != "" {
		fmt.Fprintf(&b, " (%s)", strings.TrimSuffix(d.Reason, "."))
	}
	fmt.Fprintf(&b, ". **%d** trials: **%d kept**, **%d discarded**, **%d failed**", c.Kept+c.Discarded+c.Failed+c.Interrupted+c.Running, c.Kept, c.Discarded, c.Failed)
	if c.Interrupted > 0 {
		fmt.Fprintf(&b, ", %d interrupted", c.Interrupted)
	}
	if c.Running > 0 {
		fmt.Fprintf(&b, ", %d still running", c.Running)
	}
	fmt.Fprintf(&b, ". Time spent running: **%s**.", (time.Duration(d.ElapsedS * float64(time.Second))).Round(time.Second))
	if d.LLM {
		fmt.Fprintf(&b, " Tokens: **%d** in, **%d** out (about $%.2f).", d.Usage.InputTokens, d.Usage.OutputTokens, d.Usage.CostUSD)
	} else {
		fmt.Fprintf(&b, " The agent used no language model, so no tokens were spent.")
	}
	b.WriteString("\n\nA trial is kept only when it beats the best trial so far by more than the noise between folds (a paired comparison on the same folds); otherwise it is discarded.")
	if t := d.Best; t != nil {
		fmt.Fprintf(&b, "\n\n**Best trial: %d, %s**: CV %s %s ± %s, holdout %s. Its notebook: [%s](%s).",
			t.Trial, t.Title, d.Problem.Metric, fmtOpt(t.CV), fmtOpt(t.CVStd), fmtOpt(t.Holdout), t.Notebook, mdPath(t.Notebook))
	} else {
		b.WriteString("\n\nNo trial has been kept yet.")
	}
	return b.String()
}

// mdPath escapes a relative path for a markdown link.
func mdPath(p string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29").Replace(filepath.ToSlash(p))
}

func ensembleMarkdown(d *reportData) string {
	e := d.Ensemble
	if e == nil {
		return "## Ensemble\n\nNo ensemble was built: " + d.Predict.Note
	}
	var b strings.Builder
	b.WriteString("## Ensemble\n\n")
	b.WriteString("The harness blended the saved out-of-fold predictions of the finished trials by greedy ensemble selection with replacement (Caruana et al., 2004, as AutoGluon does): starting from nothing, each round adds the trial whose addition most improves the blend's CV score; a trial may be added again, and the rounds up to the best CV are kept. A trial's weight is the share of rounds that chose it. Only the out-of-fold predictions choose; the holdout is scored once, at the end.\n\n")
	fmt.Fprintf(&b, "| | CV %s | holdout |\n|---|---|---|\n", d.Problem.Metric)
	fmt.Fprintf(&b, "| ensemble | %s ± %s | %s |\n", fmtScore(e.CV), fmt.Sprintf("%.3g", e.CVStd), fmtOpt(e.Holdout))
	fmt.Fprintf(&b, "| best single trial (%d) | %s | %s |\n\n", e.Best, fmtScore(e.BestCV), fmtOpt(e.BestHold))
	b.WriteString("Weights: ")
	var ws []string
	for _, w := range e.Weights {
		ws = append(ws, fmt.Sprintf("trial %d (%s) **%.3g**", w.Trial, w.Title, w.Weight))
	}
	b.WriteString(strings.Join(ws, ", ") + ".\n\n")
	if e.Used {
		b.WriteString("**The ensemble is used**: it beats the best single trial by more than the noise between folds, by the same paired rule that keeps trials. ")
	} else {
		b.WriteString("**The ensemble is not used**. ")
	}
	reason := strings.TrimPrefix(strings.TrimPrefix(e.Reason, "not used: "), "used: ")
	b.WriteString(strings.ToUpper(reason[:1]) + reason[1:] + ".")
	return b.String()
}

func featuresMarkdown(d *reportData) string {
	f := d.Features
	var b strings.Builder
	b.WriteString("## Feature research\n\n")
	fmt.Fprintf(&b, "The data view has **%d original feature columns** (ids, excluded columns and the target left out). ", len(f.Original))
	if len(f.Best) > 0 {
		b.WriteString("The best trials used these engineered feature steps on top of them:\n\n")
		for _, t := range f.Best {
			fmt.Fprintf(&b, "- trial %d, %s (CV %s): %s\n", t.Trial, t.Title, fmtScore(t.CV), describeSteps(t.Steps))
		}
	}
	b.WriteString("\n")
	if len(f.Decisions) == 0 {
		b.WriteString("No trial changed the feature steps of the best trial before it, so there are no feature decisions to show.\n")
	} else {
		b.WriteString("Each trial below changed the feature steps of the best trial before it; the harness kept or discarded it by the paired rule, and the score change is what justified the decision (negative is better when minimising):\n\n")
		for _, x := range f.Decisions {
			var change []string
			if len(x.Added) > 0 {
				change = append(change, "added "+describeSteps(x.Added))
			}
			if len(x.Removed) > 0 {
				change = append(change, "removed "+describeSteps(x.Removed))
			}
			fmt.Fprintf(&b, "- **trial %d** %s against trial %d: CV %s → %s (%+.4g), **%s**.", x.Trial, strings.Join(change, ", "), x.Base, fmtScore(x.BaseCV), fmtScore(x.CV), x.Change, x.Decision)
			var why []string
			for _, s := range append(append([]string{}, x.Added...), x.Removed...) {
				if e, ok := f.Explain[s]; ok {
					why = append(why, e)
				}
			}
			if len(why) > 0 {
				fmt.Fprintf(&b, " *What it does:* %s", strings.Join(why, " "))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func applyMarkdown(d *reportData) string {
	var b strings.Builder
	b.WriteString("## Applying the model to new data\n\n")
	if d.Best != nil {
		fmt.Fprintf(&b, "The best trial's notebook is [%s](%s); open it to see every step it ran.\n\n", d.Best.Notebook, mdPath(d.Best.Notebook))
	}
	fmt.Fprintf(&b, "To predict new rows (a CSV with the same columns as the training data, without `%s`):\n\n```\n%s\n```\n\n", d.Problem.Target, d.Predict.Command)
	if d.Predict.Kind == "none" {
		fmt.Fprintf(&b, "It cannot run yet: %s.\n", d.Predict.Note)
	} else {
		fmt.Fprintf(&b, "It loads the saved models and refits nothing. It will use %s.", d.Predict.Note)
		if len(d.Problem.IDs) > 0 {
			fmt.Fprintf(&b, " The output keeps the id column(s) %s beside the predictions.", "`"+strings.Join(d.Problem.IDs, "`, `")+"`")
		}
		b.WriteString("\n")
	}
	return b.String()
}
