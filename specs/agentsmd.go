package specs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Section ids of the default AGENTS.md, in their default order. A problem
// file overrides them by id under agentsMd.sections; featureResearch and
// explain appear only when the problem asks for them, context only when it
// has one.
func SectionIDs() []string {
	return []string{"objective", "context", "data", "validation", "setup", "handback",
		"notebook", "featureResearch", "explain", "budget", "rules"}
}

// RenderedSection is one section of AGENTS.md after overrides.
type RenderedSection struct {
	ID    string
	Title string
	Body  string // markdown, without the heading
}

// Markdown is the section with its heading.
func (s RenderedSection) Markdown() string {
	return "## " + s.Title + "\n\n" + strings.TrimSpace(s.Body) + "\n"
}

// TemplateData is what a team template (agentsMd.template) is executed on.
type TemplateData struct {
	Problem   *Problem
	Profile   *Profile
	Title     string
	Preamble  string
	Sections  []RenderedSection // in order, overrides applied
	Libraries []Library
}

// Section returns the section with its heading, or "" when the document has
// no such section; in a template: {{ .Section "rules" }}.
func (d TemplateData) Section(id string) string {
	for _, s := range d.Sections {
		if s.ID == id {
			return s.Markdown()
		}
	}
	return ""
}

// Body returns a section's body without its heading.
func (d TemplateData) Body(id string) string {
	for _, s := range d.Sections {
		if s.ID == id {
			return strings.TrimSpace(s.Body)
		}
	}
	return ""
}

// RenderAgentsMD renders the instructions agents read: objective, data and
// its profile, the validation protocol and the trial contract, budgets and
// rules, with the problem file's overrides applied, or through its template.
// prof may be nil, e.g. while the data is still being profiled.
func RenderAgentsMD(p *Problem, prof *Profile) (string, error) {
	if p == nil {
		return "", errors.New("render AGENTS.md: no problem")
	}
	d, err := documentData(p, prof)
	if err != nil {
		return "", err
	}
	if p.AgentsMD.Template != "" {
		t, err := parseTemplate(p.AgentsMD.Template)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := t.Execute(&b, d); err != nil {
			return "", fmt.Errorf("agentsMd.template: %w", err)
		}
		return strings.TrimRight(b.String(), "\n") + "\n", nil
	}
	var b strings.Builder
	b.WriteString("# " + d.Title + "\n\n")
	if d.Preamble != "" {
		b.WriteString(strings.TrimSpace(d.Preamble) + "\n\n")
	}
	for i, s := range d.Sections {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s.Markdown())
	}
	return b.String(), nil
}

func parseTemplate(src string) (*template.Template, error) {
	t, err := template.New("agentsMd.template").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("agentsMd.template: %w", err)
	}
	return t, nil
}

func documentData(p *Problem, prof *Profile) (TemplateData, error) {
	md := p.AgentsMD
	d := TemplateData{
		Problem: p, Profile: prof, Libraries: KernelLibraries(),
		Title:    md.Title,
		Preamble: md.Preamble,
	}
	if d.Title == "" {
		d.Title = p.Name + ": instructions for agents"
	}
	if d.Preamble == "" {
		d.Preamble = defaultPreamble
	}
	sections, err := applyOverrides(defaultSections(p, prof), md)
	if err != nil {
		return d, err
	}
	d.Sections = sections
	return d, nil
}

const defaultPreamble = `You propose trials for a trialbook experiment. A trial is a Jupyter notebook
that the harness runs cell by cell in a live Python kernel; a data scientist
watches it happen. The harness scores every trial itself from the predictions
the trial hands back, keeps the best, and shows you earlier trials' results
when you propose the next one. Read this whole file before your first trial.`

// applyOverrides drops, changes, adds and reorders sections as the problem
// file says.
func applyOverrides(defaults []RenderedSection, md AgentsMD) ([]RenderedSection, error) {
	byID := map[string]int{}
	var out []RenderedSection
	for _, s := range defaults {
		byID[s.ID] = len(out)
		out = append(out, s)
	}
	ids := make([]string, 0, len(md.Sections))
	for id := range md.Sections {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	known := SectionIDs()
	for _, id := range ids {
		o := md.Sections[id]
		i, present := byID[id]
		switch {
		case !present && contains(known, id):
			continue // a default section this problem does not show
		case !present:
			if o.Omit {
				continue
			}
			if o.Title == "" || o.Body == "" {
				return nil, fmt.Errorf("agentsMd.sections.%s: a new section needs a title and a body; default sections: %s", id, quoteList(known))
			}
			byID[id] = len(out)
			out = append(out, RenderedSection{ID: id, Title: o.Title, Body: o.Body})
			i = byID[id]
		}
		s := &out[i]
		if o.Title != "" {
			s.Title = o.Title
		}
		if o.Body != "" {
			s.Body = o.Body
		}
		if o.Prepend != "" {
			s.Body = strings.TrimSpace(o.Prepend) + "\n\n" + strings.TrimSpace(s.Body)
		}
		if o.Append != "" {
			s.Body = strings.TrimSpace(s.Body) + "\n\n" + strings.TrimSpace(o.Append)
		}
	}
	for _, id := range ids {
		if after := md.Sections[id].After; after != "" && !md.Sections[id].Omit {
			out = moveAfter(out, id, after)
		}
	}
	if len(md.Order) > 0 {
		var first, rest []RenderedSection
		for _, id := range md.Order {
			for _, s := range out {
				if s.ID == id {
					first = append(first, s)
				}
			}
		}
		for _, s := range out {
			if !contains(md.Order, s.ID) {
				rest = append(rest, s)
			}
		}
		out = append(first, rest...)
	}
	var kept []RenderedSection
	for _, s := range out {
		if o, ok := md.Sections[s.ID]; ok && o.Omit {
			continue
		}
		kept = append(kept, s)
	}
	return kept, nil
}

func moveAfter(list []RenderedSection, id, after string) []RenderedSection {
	from := -1
	for i, s := range list {
		if s.ID == id {
			from = i
		}
	}
	if from < 0 {
		return list
	}
	s := list[from]
	list = append(list[:from:from], list[from+1:]...)
	for i, t := range list {
		if t.ID == after {
			return append(list[:i+1], append([]RenderedSection{s}, list[i+1:]...)...)
		}
	}
	return append(list, s)
}

// defaultSections writes every section trialbook renders for p.
func defaultSections(p *Problem, prof *Profile) []RenderedSection {
	s := []RenderedSection{
		{"objective", "Objective", objectiveSection(p)},
	}
	if p.Context != "" {
		s = append(s, RenderedSection{"context", "Context from the data scientist", p.Context})
	}
	s = append(s,
		RenderedSection{"data", "Data", dataSection(p, prof)},
		RenderedSection{"validation", "Validation and scoring", validationSection(p)},
		RenderedSection{"setup", "What the setup cell defines", setupSection(p)},
		RenderedSection{"handback", "Handing back predictions", handbackSection(p)},
		RenderedSection{"notebook", "What a trial notebook contains", notebookSection(p)},
	)
	if p.FeatureResearch {
		s = append(s, RenderedSection{"featureResearch", "Feature research", featureResearchSection(p)})
	}
	if p.Explain {
		s = append(s, RenderedSection{"explain", "Explainability", explainSection(p)})
	}
	s = append(s,
		RenderedSection{"budget", "Budget", budgetSection(p)},
		RenderedSection{"rules", "Rules", rulesSection(p)},
		RenderedSection{"mcp", "If you are connected through MCP", mcpSection},
	)
	return s
}

// mcpSection is for a coding agent driving trials through `trialbook mcp`.
const mcpSection = "When trialbook's MCP server (`trialbook mcp`) is among your tools, run every trial through it:\n\n" +
	"- **Use the tools, not files.** Never write notebooks, scripts or prediction files of your own to be scored: only what a trial hands back with `hand_back` counts, and the harness scores it itself.\n" +
	"- **The loop:** call `experiment` (the problem, budget left, leaderboard); `start_trial(title, plan)`; `run_cell(trial, code)` one step at a time, reading each cell's output before writing the next; `replace_cell(trial, index, code)` when a cell raises; a last cell that calls `hand_back(oof, holdout)`; `finish_trial(trial)` for the harness's score and whether the trial was kept. `abandon_trial(trial, reason)` ends a trial that cannot work.\n" +
	"- **Build on earlier trials:** `trial(n)` shows an earlier trial's plan, cells and CV score.\n" +
	"- **Repeat until `experiment` says the budget is spent**, then stop."

func taskWords(t Task) string {
	switch t {
	case Regression:
		return "a regression"
	case Binary:
		return "a binary classification"
	case Multiclass:
		return "a multiclass classification"
	}
	return "a " + string(t)
}

func objectiveSection(p *Problem) string {
	var b strings.Builder
	info, _ := findMetric(p.Metric.Name)
	better := "lower is better"
	if p.Metric.Direction == Maximize {
		better = "higher is better"
	}
	fmt.Fprintf(&b, "This is %s problem: predict `%s`", taskWords(p.Task), p.Target)
	if len(p.Classes) > 0 {
		fmt.Fprintf(&b, " (classes %s)", backticked(p.Classes))
	}
	fmt.Fprintf(&b, ".\n\nThe metric is **%s** (%s): **%s**.", p.Metric.Name, info.about(p.Task), better)
	if p.Validation.Repeat > 1 {
		fmt.Fprintf(&b, " A trial is ranked by its cross-validation score, the metric on its out-of-fold predictions averaged over the %d rounds of fixed folds;", p.Validation.Repeat)
	} else {
		b.WriteString(" A trial is ranked by its mean cross-validation score over the fixed folds;")
	}
	b.WriteString(" the sealed holdout score, which you never see during the experiment, is reported at the end to show whether the ranking generalises.")
	b.WriteString("\n\nAim for trials that each test one clear idea and build on what earlier trials showed.")
	return b.String()
}

func dataSection(p *Problem, prof *Profile) string {
	var b strings.Builder
	b.WriteString("The setup cell loads the training part of the data as `train` (holdout rows removed) and splits it into `X` and `y`. Read data only through those names and `DATA_DIR`; do not look for the original file.\n\n")
	var roles []string
	if len(p.Features.IDs) > 0 {
		roles = append(roles, fmt.Sprintf("id columns %s are row identifiers, never features, and are not in `X`", backticked(p.Features.IDs)))
	}
	if len(p.Features.Exclude) > 0 {
		roles = append(roles, fmt.Sprintf("excluded columns %s must not be used and are not in `X`", backticked(p.Features.Exclude)))
	}
	if len(p.Features.Include) > 0 {
		roles = append(roles, fmt.Sprintf("`X` holds only the columns %s", backticked(p.Features.Include)))
	}
	if len(roles) > 0 {
		b.WriteString("Columns: " + strings.Join(roles, "; ") + ".\n\n")
	}
	if prof == nil {
		b.WriteString("(No profile of the data was computed.)")
		return b.String()
	}
	b.WriteString("Profile of the whole dataset (missing values counted as pandas reads them; `NA` is missing):\n\n")
	b.WriteString(prof.Markdown())
	return b.String()
}

func validationSection(p *Problem) string {
	var b strings.Builder
	v := p.Validation
	switch v.Kind {
	case "kfold":
		fmt.Fprintf(&b, "%d-fold cross-validation", v.Folds)
	case "stratified_kfold":
		if p.Task == Regression {
			// lab stratifies a numeric target by its deciles.
			fmt.Fprintf(&b, "%d-fold cross-validation, stratified by deciles of `%s`", v.Folds, p.Target)
		} else {
			fmt.Fprintf(&b, "%d-fold cross-validation, stratified by `%s`", v.Folds, p.Target)
		}
	case "group_kfold":
		fmt.Fprintf(&b, "%d-fold group cross-validation: rows with the same `%s` are always in the same fold", v.Folds, v.Group)
	case "time_series":
		fmt.Fprintf(&b, "a %d-split time-series validation ordered by `%s`: each fold validates on rows later than the ones it trains on", v.Folds, v.Time)
	}
	if v.Repeat > 1 {
		fmt.Fprintf(&b, ", repeated %d times", v.Repeat)
	}
	out := "Validation is " + b.String() + ". The harness makes the folds once, with the experiment's seed, and every trial uses the same ones: the setup cell gives them as `folds`, a list of `(train_idx, valid_idx)` position arrays into `X`. Never make your own split for scoring; compare trials only through these folds."
	if v.Repeat > 1 {
		out += fmt.Sprintf("\n\nThe folds are repeated: `folds` holds %d rounds of %d splits one after another, and `REPEATS` is %d. Each round splits the rows anew, so every row is in a `valid_idx` once per round. Run the fold loop over all of `folds`, start `oof` at zeros and accumulate `oof[va] += pred / REPEATS`, so that each row's out-of-fold prediction is its average over the rounds; average holdout predictions over all `len(folds)` models. The harness cannot tell an `oof` that was not averaged (overwritten with `oof[va] = pred`, it holds only the last round): it would be scored as it is.", v.Repeat, v.Folds, v.Repeat)
	}
	if p.Holdout > 0 {
		out += fmt.Sprintf("\n\nA sealed holdout of %s of the rows was set aside before anything else. Its features are in `X_holdout`; its labels are not in the kernel, not in `DATA_DIR` and not anywhere you can read. Predict it with models that never saw a holdout label.", percent(p.Holdout))
	} else {
		out += "\n\nThis problem has no holdout; `X_holdout` is empty and `holdout` predictions are an empty array."
	}
	if v.Repeat > 1 {
		out += "\n\nThe harness scores a trial itself, in Go, from the averaged out-of-fold predictions the trial hands back: the metric on all of them is the cross-validation score, and the metric on each fold of the first round gives the spread. A trial never"
	} else {
		out += "\n\nThe harness scores a trial itself, in Go, from the out-of-fold predictions the trial hands back: the metric on each fold, their mean and spread. A trial never"
	}
	out += " computes or reports its own score for ranking; print fold scores if they help you, but the harness's numbers are the ones that count."
	return out
}

func setupSection(p *Problem) string {
	classes := "`None` (regression)"
	if len(p.Classes) > 0 {
		classes = "the sorted class labels: " + backticked(p.Classes)
	}
	repeats := ""
	if p.Validation.Repeat > 1 {
		repeats = fmt.Sprintf("| `REPEATS` | `%d`: the rounds of folds in `folds`; accumulate `oof[va] += pred / REPEATS` |\n", p.Validation.Repeat)
	}
	return "The harness writes the first code cell of every trial and runs it with the working directory set to the experiment folder. Do not redefine these names:\n\n" +
		"| name | what |\n|---|---|\n" +
		"| `EXPERIMENT_DIR`, `DATA_DIR` | `pathlib.Path`s of the experiment folder and its `data/` |\n" +
		"| `ARTIFACTS` | `pathlib.Path` of this trial's folder `trials/NNN/`; save plots and files there |\n" +
		fmt.Sprintf("| `SEED` | the experiment's seed, `%d`; use it wherever randomness appears |\n", p.Seed) +
		fmt.Sprintf("| `TASK` | `%q` |\n", p.Task) +
		fmt.Sprintf("| `TARGET`, `METRIC` | `%q`, `%q` |\n", p.Target, p.Metric.Name) +
		"| `train` | `pandas.DataFrame`: the training part, target included |\n" +
		"| `X`, `y` | `train`'s feature columns and its target |\n" +
		"| `X_holdout` | the holdout's features, same columns as `X` |\n" +
		"| `folds` | list of `(train_idx, valid_idx)` numpy integer arrays, positions into `X` |\n" +
		repeats +
		"| `CLASSES` | " + classes + " |\n" +
		"| `hand_back(oof, holdout, model=None)` | hands your predictions to the harness |"
}

func handbackSection(p *Problem) string {
	var shape string
	switch p.Task {
	case Regression:
		shape = "- `oof`: 1-D, one number per row of `X`.\n- `holdout`: 1-D, one number per row of `X_holdout`."
	case Binary:
		shape = "- `oof`: 1-D, the probability of `CLASSES[1]` for each row of `X`.\n- `holdout`: 1-D, the probability of `CLASSES[1]` for each row of `X_holdout`.\n- Probabilities, not labels: the harness thresholds at 0.5 itself where the metric needs labels."
	default:
		shape = "- `oof`: 2-D `(len(X), len(CLASSES))` class probabilities, columns in `CLASSES` order.\n- `holdout`: 2-D `(len(X_holdout), len(CLASSES))`, same column order.\n- Probabilities, not labels: the harness takes the argmax itself where the metric needs labels."
	}
	oof := "- `oof` are out-of-fold predictions: each row of `X` predicted by the model of the fold where that row was in `valid_idx`.\n"
	if p.Validation.Repeat > 1 {
		oof = "- `oof` are out-of-fold predictions: each row of `X` predicted by the model of each fold where that row was in `valid_idx`, averaged over the `REPEATS` rounds.\n"
	}
	return "The last cell of a trial calls `hand_back(oof, holdout, model=None)`:\n\n" +
		oof +
		"- `holdout` are predictions for every row of `X_holdout`, from models that never saw a holdout label: a refit on all of `X`, or the average of the fold models.\n" +
		"- `model` (optional, recommended) is a fitted object whose `" + predictMethod(p.Task) + "(df)` takes a DataFrame with `X`'s columns and applies the whole trial, preprocessing included. It is pickled to `ARTIFACTS/model.pkl` and used to predict new data.\n\n" +
		"Shapes for this " + strings.TrimPrefix(taskWords(p.Task), "a ") + " problem:\n\n" + shape + "\n\n" +
		"`hand_back` checks lengths and that every value is finite, writes `ARTIFACTS/oof.npy` and `ARTIFACTS/holdout.npy`, and prints one confirmation line. A trial that does not call it, or calls it with the wrong shapes, fails."
}

func predictMethod(t Task) string {
	if t == Regression {
		return "predict"
	}
	return "predict_proba"
}

func notebookSection(p *Problem) string {
	fix := "A cell that raises is sent back to you to fix"
	if p.Agent.FixAttempts > 0 {
		fix += fmt.Sprintf(", up to %d times per cell,", p.Agent.FixAttempts)
	}
	return "A trial is a plan and a list of code cells, in this order:\n\n" +
		"1. **The plan, in markdown, first**: what the trial tries and why, citing what earlier trials showed (their numbers and titles), and what result would confirm or refute the idea.\n" +
		"2. **Code cells, each doing one step** (features, model, cross-validation loop, holdout predictions, plots), small enough that a failing cell is easy to fix. Print what a reader needs to follow along: shapes, fold scores, chosen parameters.\n" +
		"3. **The hand-back**, last.\n\n" +
		"Cells run one by one in the same live kernel, after the setup cell, and their outputs are saved in the notebook as they appear. " + fix + " in the same kernel, so earlier cells' variables are still there. Keep a trial self-contained: a later trial runs in a fresh kernel and cannot see this one's variables."
}

func featureResearchSection(p *Problem) string {
	return "This problem asks for feature research. Beyond tuning models, spend trials on the features themselves and say so in the plan:\n\n" +
		"- transformations of the target or of skewed columns, interactions and ratios that the domain suggests, encodings of categoricals, handling of missing values (missing may carry meaning);\n" +
		"- measure each idea against a fixed model and the same folds, so that the difference is the feature's;\n" +
		"- print a short table of what each feature set scored, and keep what helped for later trials;\n" +
		"- compute every feature inside the fold loop when it uses the target or statistics of other rows, so no validation row leaks into training."
}

func explainSection(p *Problem) string {
	return "This problem asks for explainability. Each trial that fits a model ends, before the hand-back, with a cell that explains it:\n\n" +
		"- global feature importance: SHAP values (`shap` is installed) on a sample of `X`, or permutation importance computed on validation rows;\n" +
		"- a plot saved to `ARTIFACTS` (e.g. `ARTIFACTS / \"shap_summary.png\"`) and shown in the notebook;\n" +
		"- two or three sentences in a markdown cell on what drives the predictions and whether it is plausible for the domain."
}

func budgetSection(p *Problem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- Trials: at most %d for the whole experiment; spend them on ideas that differ.\n", p.Budget.Trials)
	writeLimit := func(label string, d time.Duration, what string) {
		if d > 0 {
			fmt.Fprintf(&b, "- %s: %s; %s\n", label, d, what)
		}
	}
	writeLimit("Total time", p.Budget.Time, "the experiment stops proposing trials after it.")
	writeLimit("Time per trial", p.Budget.TrialTime, "a trial still running then is interrupted and counts as failed.")
	writeLimit("Time per cell", p.Budget.CellTime, "a cell still running then is interrupted; size models and searches to fit.")
	if n := p.Budget.CellsPerTrial; n > 0 && n != DefaultCellsPerTrial {
		fmt.Fprintf(&b, "- Cells per trial: at most %d.\n", n)
	}
	if p.Budget.Time == 0 && p.Budget.TrialTime == 0 && p.Budget.CellTime == 0 {
		b.WriteString("- No time limits are set, but prefer trials that finish in minutes.\n")
	}
	if p.Kernel.GPU {
		b.WriteString("- The kernel has a GPU; libraries that can use one (xgboost, catboost, lightgbm) may.\n")
	} else {
		b.WriteString("- The kernel has no GPU: use CPU training.\n")
	}
	return b.String()
}

func rulesSection(p *Problem) string {
	var libs []string
	for _, l := range KernelLibraries() {
		libs = append(libs, fmt.Sprintf("%s %s", l.Name, l.Version))
	}
	return confinementRule(p.Kernel.InForce) +
		"- **Never look for the holdout labels** or for the original dataset. Read only `train`, `X`, `y`, `X_holdout` and the files in `DATA_DIR`.\n" +
		"- **Fixed seeds.** Pass `SEED` to every random state (`random_state=SEED`, `seed=SEED`, `np.random.default_rng(SEED)`), so a trial gives the same numbers when it runs again.\n" +
		"- **Use the fixed folds** for every score you compare, and never fit anything that sees a validation row's target before predicting it.\n" +
		"- **Do not redefine** the setup cell's names, and do not write outside `ARTIFACTS`.\n" +
		"- **Libraries in the kernel** (Python 3.11): " + strings.Join(libs, ", ") + ", and the standard library. Nothing else can be installed."
}

// confinementRule tells agents what confines their kernel on this run, as
// it is: what the sandbox enforces, or that nothing does and why.
func confinementRule(c *Confinement) string {
	var b strings.Builder
	switch {
	case c == nil:
		b.WriteString("- **Work offline.** Do not download data, models or packages, and do not `pip install`.\n")
	case c.Sandboxed:
		fmt.Fprintf(&b, "- **Sandbox.** The kernel runs in a sandbox with no network: not the internet, not this machine's services. Do not download data, models or packages, and do not `pip install`: it fails. "+
			"It can write only to %s; `DATA_DIR` is read-only, and nothing else of the experiment folder, nor the home directory, is in it.\n", backticked(c.Writable))
	default:
		fmt.Fprintf(&b, "- **No sandbox on this run** (%s). The kernel may be able to reach the network and to write where the user can: do not. Download no data, models or packages, do not `pip install`, and write only to `ARTIFACTS`.\n", strings.TrimSuffix(c.Why, "."))
	}
	if c != nil && (c.Memory > 0 || c.Processes > 0) {
		var caps []string
		if c.Memory > 0 {
			caps = append(caps, "memory "+FormatBytes(c.Memory))
		}
		if c.Processes > 0 {
			caps = append(caps, fmt.Sprintf("%d processes and threads", c.Processes))
		}
		b.WriteString("- **Resource caps** per trial kernel: " + strings.Join(caps, ", ") + ". A trial that goes past the memory cap fails; size data copies and models to fit.\n")
	}
	return b.String()
}

// FormatBytes writes a memory size as people read it: 512 MiB, 2 GiB.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

func backticked(names []string) string {
	shown := names
	more := ""
	if len(shown) > 12 {
		shown, more = shown[:12], fmt.Sprintf(", … (%d in all)", len(names))
	}
	q := make([]string, len(shown))
	for i, n := range shown {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ") + more
}
