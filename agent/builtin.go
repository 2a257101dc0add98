package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"trialbook/specs"
)

// ErrCannotFix is returned by Fix when an agent has no repair for a cell.
var ErrCannotFix = errors.New("cannot fix this cell")

// Builtin is the offline strategist: it proposes trials from Jsonnet recipes
// (specs/recipes) and decides from the journal's trials what to try next:
// baselines, then model families, then feature research on the best trial,
// then hyperparameter moves and seed bagging around the best.
type Builtin struct {
	recipes []specs.Recipe
}

var (
	_ Agent    = (*Builtin)(nil)
	_ Proposer = (*Builtin)(nil)
)

// RunTrial proposes the next idea and runs its prepared cells through a
// session.
func (b *Builtin) RunTrial(ctx context.Context, s State, l Lab) error {
	return RunWhole(ctx, b, s, l)
}

// NewBuiltin loads the built-in recipes and the problem's extra recipe
// files. Its evidence (the training data's profile, earlier trials'
// feature importances) comes in State, never from the folder.
func NewBuiltin(p *specs.Problem) (*Builtin, error) {
	rs, err := specs.LoadRecipes(p.Recipes)
	if err != nil {
		return nil, err
	}
	return &Builtin{recipes: rs}, nil
}

// config is what a built-in trial runs; it is kept in the trial's tags so a
// later proposal can start from the best trial.
type config struct {
	Recipe       string         `json:"recipe"` // the baseline or family recipe
	Params       map[string]any `json:"params"`
	Steps        []string       `json:"steps"`
	Interactions [][2]string    `json:"interactions,omitempty"`
	Ratios       [][2]string    `json:"ratios,omitempty"`
}

// Tag keys the strategist writes.
const (
	tagKey    = "idea"   // what was tried, so it is not tried again
	tagConfig = "config" // JSON config
	tagFamily = "family"
)

func (b *Builtin) recipe(name string) (specs.Recipe, bool) {
	for _, r := range b.recipes {
		if r.Name == name {
			return r, true
		}
	}
	return specs.Recipe{}, false
}

// Propose picks the next idea not yet tried.
func (b *Builtin) Propose(ctx context.Context, s State) (Trial, error) {
	if err := ctx.Err(); err != nil {
		return Trial{}, err
	}
	task := s.Problem.Task
	tried := map[string]bool{}
	for _, t := range s.Trials {
		// An interrupted trial says nothing about its idea: it may be tried again.
		if t.Status != "interrupted" && t.Tags[tagKey] != "" {
			tried[t.Tags[tagKey]] = true
		}
	}
	// Baselines and families, in recipe order.
	for _, stage := range []string{"baseline", "family"} {
		for _, r := range b.recipes {
			key := stage + ":" + r.Name
			if r.Stage != stage || !r.Fits(task) || tried[key] {
				continue
			}
			c := config{Recipe: r.Name, Params: r.Params}
			if t, ok, err := b.fresh(s, key, r.Title, c, b.familyPlan(s, r)); err != nil || ok {
				return t, err
			}
		}
	}
	if t, ok, err := b.logFamilies(s, tried); err != nil || ok {
		return t, err
	}
	if t, ok := b.blend(s); ok {
		return t, nil
	}
	best, ok := bestTrial(s)
	if !ok {
		return Trial{}, fmt.Errorf("%w: every baseline and family trial failed", ErrNoIdeas)
	}
	var bc config
	if err := json.Unmarshal([]byte(best.Tags[tagConfig]), &bc); err != nil {
		return Trial{}, fmt.Errorf("%w: best trial %d has no built-in config to build on", ErrNoIdeas, best.Number)
	}
	fam, ok := b.recipe(bc.Recipe)
	if !ok {
		return Trial{}, fmt.Errorf("%w: best trial %d used recipe %q, which is gone", ErrNoIdeas, best.Number, bc.Recipe)
	}
	cite := fmt.Sprintf("Trial %d (%s) is the best so far: %s.", best.Number, best.Title, scoreText(s, best))
	for _, t := range s.Trials {
		if t.Number == s.Best && t.Number != best.Number {
			cite = fmt.Sprintf("Trial %d (%s) is the best so far: %s. Trial %d (%s, %s) is the best single model, and this trial builds on it.",
				t.Number, t.Title, scoreText(s, t), best.Number, best.Title, scoreText(s, best))
		}
	}

	// Feature research only when the problem asks for it (featureResearch).
	if s.Problem.FeatureResearch {
		for _, r := range b.recipes {
			key := "feature:" + r.Step
			if r.Stage != "feature" || !r.Fits(task) || tried[key] || slices.Contains(bc.Steps, r.Step) {
				continue
			}
			evidence, c, ok := b.evidence(s, r, bc, best)
			if !ok {
				continue
			}
			plan := fmt.Sprintf("## Feature research: %s\n\n%s\n\n**Evidence.** %s\n\n**Why.** %s\n\nThe step is kept only if it beats trial %d by more than the noise between folds.",
				r.Title, cite, evidence, r.Why, best.Number)
			if t, ok, err := b.fresh(s, key, fmt.Sprintf("%s + %s", fam.Title, r.Title), c, plan); err != nil || ok {
				return t, err
			}
		}
	}
	for _, m := range fam.Moves {
		key := "move:" + fam.Name + "/" + m.Name
		if tried[key] {
			continue
		}
		c := clone(bc)
		maps.Copy(c.Params, m.Params)
		plan := fmt.Sprintf("## Exploitation: %s, %s\n\n%s\n\n**Move.** %s: %s.\n\n**Why.** Tuning around the best trial is the cheapest remaining gain once families and feature steps have been compared.",
			fam.Title, m.Name, cite, m.Why, paramsText(m.Params))
		if t, ok, err := b.fresh(s, key, fmt.Sprintf("%s %s", fam.Title, m.Name), c, plan); err != nil || ok {
			return t, err
		}
	}
	for _, r := range b.recipes {
		key := "exploit:" + r.Step
		if r.Stage != "exploit" || !r.Fits(task) || tried[key] || slices.Contains(bc.Steps, r.Step) {
			continue
		}
		if r.Step == "seeds" && !fam.Seeded() {
			continue // the same model whatever the seed: bagging would change nothing
		}
		c := clone(bc)
		c.Steps = append(c.Steps, r.Step)
		plan := fmt.Sprintf("## Exploitation: %s\n\n%s\n\n**Why.** %s", r.Title, cite, r.Why)
		if t, ok, err := b.fresh(s, key, fmt.Sprintf("%s + %s", fam.Title, r.Title), c, plan); err != nil || ok {
			return t, err
		}
	}
	// Then the runner-up families' moves, on the best trial's feature steps:
	// strong, different models are what the harness's ensemble needs.
	var others []TrialSummary
	for _, t := range bestOfFamilies(s) {
		if t.Tags[tagFamily] != fam.Family && len(others) < logFamilyCount-1 {
			others = append(others, t)
		}
	}
	for _, second := range others {
		var sc config
		if json.Unmarshal([]byte(second.Tags[tagConfig]), &sc) != nil {
			continue
		}
		sf, ok := b.recipe(sc.Recipe)
		if !ok {
			continue
		}
		for _, m := range append([]specs.Move{{Name: "as-is", Why: "the same parameters"}}, sf.Moves...) {
			key := "cross:" + sf.Name + "/" + m.Name
			if tried[key] {
				continue
			}
			c := clone(bc)
			c.Recipe, c.Params = sf.Name, maps.Clone(sc.Params)
			maps.Copy(c.Params, m.Params)
			plan := fmt.Sprintf("## Exploitation: a runner-up family with the best trial's features\n\n%s Trial %d (%s) is the best %s trial: %s.\n\n**Move.** %s with the feature steps of trial %d (%s), %s.\n\n**Why.** A family that was close to the best may overtake it once it gets the same features, and a strong model of another family is what an ensemble gains most from.",
				cite, second.Number, second.Title, sf.Title, scoreText(s, second), sf.Title, best.Number, strings.Join(bc.Steps, ", "), m.Why)
			if t, ok, err := b.fresh(s, key, fmt.Sprintf("%s %s + best features", sf.Title, m.Name), c, plan); err != nil || ok {
				return t, err
			}
		}
	}
	// Last: random perturbations of the numeric parameters of the best trial
	// and of the best trial of the runner-up family, in turn (so the
	// ensemble's candidates are not all one model), seeded by the trial
	// number so a re-run proposes the same.
	base, baseFam := best, fam
	if len(others) > 0 && s.Next%2 == 1 {
		var oc config
		if json.Unmarshal([]byte(others[0].Tags[tagConfig]), &oc) == nil {
			if of, ok := b.recipe(oc.Recipe); ok {
				base, baseFam, bc = others[0], of, oc
			}
		}
	}
	for attempt := range 20 {
		c := clone(bc)
		moved := perturb(c.Params, uint64(s.Next)*64+uint64(attempt))
		if len(moved) == 0 {
			continue
		}
		key := fmt.Sprintf("random:%d", s.Next)
		plan := fmt.Sprintf("## Exploitation: a random step around trial %d\n\n%s Trial %d (%s, %s) is the best %s trial. Every recipe has been tried, so this trial moves its parameters at random: %s.",
			base.Number, cite, base.Number, base.Title, scoreText(s, base), baseFam.Title, paramsText(moved))
		if t, ok, err := b.fresh(s, key, fmt.Sprintf("%s random step", baseFam.Title), c, plan); err != nil || ok {
			return t, err
		}
	}
	return Trial{}, fmt.Errorf("%w: tried every recipe around trial %d", ErrNoIdeas, best.Number)
}

// Fix has no model to reason with: a missing package or anything else ends
// the trial with the reason.
func (b *Builtin) Fix(ctx context.Context, f FixRequest) (Fix, error) {
	if f.Ename == "ModuleNotFoundError" || f.Ename == "ImportError" {
		return Fix{}, fmt.Errorf("%w: %s: %s is not installed in the kernel's environment", ErrCannotFix, f.Ename, f.Evalue)
	}
	return Fix{}, fmt.Errorf("%w: the built-in strategist has no repair for %s: %s", ErrCannotFix, f.Ename, f.Evalue)
}

func clone(c config) config {
	out := c
	out.Params = maps.Clone(c.Params)
	if out.Params == nil {
		out.Params = map[string]any{}
	}
	out.Steps = slices.Clone(c.Steps)
	out.Interactions = slices.Clone(c.Interactions)
	out.Ratios = slices.Clone(c.Ratios)
	return out
}

func bestTrial(s State) (TrialSummary, bool) {
	for _, t := range s.Trials {
		if t.Number == s.Best && t.Tags[tagConfig] != "" {
			return t, true
		}
	}
	// No decision recorded (or the best is not a built-in trial): the best
	// scored built-in trial by CV.
	var best TrialSummary
	found := false
	for _, t := range s.Trials {
		if (t.Status != "kept" && t.Status != "discarded") || t.Tags[tagConfig] == "" {
			continue
		}
		if !found || beats(s, t.CV, best.CV) {
			best, found = t, true
		}
	}
	return best, found
}

func beats(s State, a, b float64) bool {
	if s.Problem.Metric.Direction == specs.Maximize {
		return a > b
	}
	return a < b
}

func scoreText(s State, t TrialSummary) string {
	return fmt.Sprintf("CV %s %.5g ± %.2g", s.Problem.Metric.Name, t.CV, t.CVStd)
}

func paramsText(p map[string]any) string {
	keys := slices.Sorted(maps.Keys(p))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, p[k])
	}
	return strings.Join(parts, ", ")
}

// logFamilies proposes, for a skewed non-negative regression target, the
// best few families again on log1p(target) (still scored on the original
// scale), before any single family is chosen to build on: which family wins
// can change once the target is symmetric, and both versions feed the
// harness's ensemble.
func (b *Builtin) logFamilies(s State, tried map[string]bool) (Trial, bool, error) {
	var step specs.Recipe
	for _, r := range b.recipes {
		if r.Stage == "feature" && r.Step == "log_target" && r.Fits(s.Problem.Task) {
			step = r
		}
	}
	if !s.Problem.FeatureResearch || step.Name == "" {
		return Trial{}, false, nil
	}
	prof := s.Train
	if prof == nil || !prof.TargetNumeric || prof.TargetSkew <= 0.75 || prof.TargetMin < 0 {
		return Trial{}, false, nil
	}
	tops := bestOfFamilies(s)
	if len(tops) > logFamilyCount {
		tops = tops[:logFamilyCount]
	}
	names := make([]string, len(tops))
	for i, t := range tops {
		names[i] = fmt.Sprintf("trial %d (%s, %s)", t.Number, t.Title, scoreText(s, t))
	}
	for _, t := range tops {
		var c config
		if json.Unmarshal([]byte(t.Tags[tagConfig]), &c) != nil || slices.Contains(c.Steps, step.Step) {
			continue
		}
		r, ok := b.recipe(c.Recipe)
		if !ok || tried["logfamily:"+r.Name] {
			continue
		}
		c = clone(c)
		c.Steps = append(c.Steps, step.Step)
		plan := fmt.Sprintf("## %s on a log target\n\n**Evidence.** The target %s has skewness %.2f (above 0.75) and no negative values. The best %d families so far: %s.\n\n**Why.** %s This trial is trial %d with that one change, so the comparison is direct.",
			r.Title, s.Problem.Target, prof.TargetSkew, len(tops), strings.Join(names, "; "), step.Why, t.Number)
		if tr, ok, err := b.fresh(s, "logfamily:"+r.Name, fmt.Sprintf("%s + %s", r.Title, step.Title), c, plan); err != nil || ok {
			return tr, ok, err
		}
	}
	return Trial{}, false, nil
}

// logFamilyCount is how many of the best families get a log-target trial.
const logFamilyCount = 3

// bestOfFamilies is the best scored built-in trial of each model family
// (baselines and blends aside), best first.
func bestOfFamilies(s State) []TrialSummary {
	byFamily := map[string]TrialSummary{}
	for _, t := range s.Trials {
		fam := t.Tags[tagFamily]
		if (t.Status != "kept" && t.Status != "discarded") || fam == "" || fam == "dummy" || fam == "blend" || t.Tags[tagConfig] == "" {
			continue
		}
		if cur, ok := byFamily[fam]; !ok || beats(s, t.CV, cur.CV) {
			byFamily[fam] = t
		}
	}
	tops := slices.Collect(maps.Values(byFamily))
	sort.Slice(tops, func(i, j int) bool {
		if tops[i].CV != tops[j].CV {
			return beats(s, tops[i].CV, tops[j].CV)
		}
		return tops[i].Number < tops[j].Number
	})
	return tops
}

// familyPlan explains a baseline or family trial, citing what came before.
func (b *Builtin) familyPlan(s State, r specs.Recipe) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "## %s\n\n%s\n\n", r.Title, r.Why)
	if r.Stage == "baseline" {
		folds := fmt.Sprintf("%d folds", s.Problem.Validation.Folds)
		if r := s.Problem.Validation.Repeat; r > 1 {
			folds += fmt.Sprintf(", repeated %d times", r)
		}
		fmt.Fprintf(&sb, "This is a baseline: it sets the bar for %s on the harness's %s.", s.Problem.Metric.Name, folds)
		return sb.String()
	}
	var done []string
	for _, t := range s.Trials {
		if t.Status == "kept" || t.Status == "discarded" {
			done = append(done, fmt.Sprintf("trial %d (%s) %.5g", t.Number, t.Title, t.CV))
		}
	}
	if len(done) > 0 {
		fmt.Fprintf(&sb, "So far, CV %s: %s. ", s.Problem.Metric.Name, strings.Join(done, "; "))
	}
	if best, ok := bestTrial(s); ok {
		fmt.Fprintf(&sb, "Trial %d is the best. ", best.Number)
	}
	sb.WriteString("Each model family is tried once with sensible defaults before any tuning, so that the comparison between families is fair; the best family then gets feature research and tuning.")
	return sb.String()
}

// evidence checks that a feature step's precondition holds in the data or in
// earlier trials and says so in words; ok is false when it does not apply.
func (b *Builtin) evidence(s State, r specs.Recipe, bc config, best TrialSummary) (string, config, bool) {
	c := clone(bc)
	c.Steps = append(c.Steps, r.Step)
	prof := s.Train
	if prof == nil {
		return "", c, false
	}
	switch r.When {
	case "skewed-target":
		if !prof.TargetNumeric || prof.TargetSkew <= 0.75 || prof.TargetMin < 0 {
			return "", c, false
		}
		return fmt.Sprintf("The target %s has skewness %.2f (above 0.75) and no negative values.", s.Problem.Target, prof.TargetSkew), c, true
	case "missing-values":
		if len(prof.Missing) == 0 {
			return "", c, false
		}
		return fmt.Sprintf("%d feature columns have missing values, most in %s.", len(prof.Missing), strings.Join(topMissing(prof.Missing, 5), ", ")), c, true
	case "high-cardinality":
		if len(prof.HighCardinality) == 0 {
			return "", c, false
		}
		return fmt.Sprintf("%d categorical columns have more than 10 levels: %s.", len(prof.HighCardinality), strings.Join(prof.HighCardinality, ", ")), c, true
	case "importance":
		top, from := b.importance(s, best)
		if len(top) < 2 {
			return "", c, false
		}
		ev := fmt.Sprintf("Trial %d's models ranked these numeric features strongest (share of importance): %s.", from, importanceText(top))
		if r.Step == "interactions" {
			n := min(4, len(top))
			for i := 0; i < n; i++ {
				for j := i + 1; j < n; j++ {
					c.Interactions = append(c.Interactions, [2]string{top[i].Feature, top[j].Feature})
				}
			}
			for i := 1; i < n; i++ {
				c.Ratios = append(c.Ratios, [2]string{top[0].Feature, top[i].Feature})
			}
			ev += fmt.Sprintf(" This trial adds the %d pairwise products of the top %d and the ratios of %s to the next %d.", len(c.Interactions), n, top[0].Feature, n-1)
			// The step name alone would not say which columns; keep it for
			// the record but the columns live in the config.
			c.Steps = slices.DeleteFunc(c.Steps, func(s string) bool { return s == "interactions" })
			c.Steps = append(c.Steps, "interactions")
		}
		return ev, c, true
	case "":
		return "No precondition.", c, true
	}
	return "", c, false
}

// importance is the ranking the best trial (or else the latest trial that
// wrote one) handed back: numeric original columns only, strongest first.
func (b *Builtin) importance(s State, best TrialSummary) ([]FeatureImportance, int) {
	order := []TrialSummary{best}
	for i := len(s.Trials) - 1; i >= 0; i-- {
		order = append(order, s.Trials[i])
	}
	for _, t := range order {
		if t.Importance == nil {
			continue
		}
		var top []FeatureImportance
		for _, f := range t.Importance {
			if f.Numeric && f.Importance > 0 {
				top = append(top, f)
			}
		}
		sort.SliceStable(top, func(i, j int) bool { return top[i].Importance > top[j].Importance })
		if len(top) > 5 {
			top = top[:5]
		}
		return top, t.Number
	}
	return nil, 0
}

func importanceText(fs []FeatureImportance) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%s %.3f", f.Feature, f.Importance)
	}
	return strings.Join(parts, ", ")
}

func topMissing(m map[string]int, n int) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s (%d rows)", k, m[k])
	}
	return keys
}

// perturb moves a few numeric parameters by a random factor in [0.7, 1.4],
// returning what moved.
func perturb(p map[string]any, seed uint64) map[string]any {
	moved := map[string]any{}
	keys := slices.Sorted(maps.Keys(p))
	x := seed*6364136223846793005 + 1442695040888963407
	next := func() float64 {
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		return float64(x%10000) / 10000
	}
	for _, k := range keys {
		v, ok := p[k].(float64)
		if !ok || next() < 0.5 {
			continue
		}
		f := 0.7 + 0.7*next()
		nv := v * f
		if v == math.Trunc(v) && v >= 2 {
			nv = math.Max(1, math.Round(nv))
		}
		if v > 0 && v <= 1 && nv > 1 {
			nv = 1
		}
		if nv == v {
			continue
		}
		p[k] = nv
		moved[k] = nv
	}
	return moved
}

var cellTemplates = template.Must(template.New("cells").Parse(
	`{{define "features"}}` + cellFeatures + `{{end}}{{define "model"}}` + cellModel + `{{end}}{{define "cv"}}` + cellCV + `{{end}}{{define "handback"}}` + cellHandBack + `{{end}}`))

// pyString writes s as a Python string literal (JSON's escapes are Python's).
func pyString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (b *Builtin) trial(s State, key, title string, c config, plan string) (Trial, error) {
	r, ok := b.recipe(c.Recipe)
	if !ok {
		return Trial{}, fmt.Errorf("no recipe %q", c.Recipe)
	}
	kind := "regression"
	if s.Problem.Task != specs.Regression {
		kind = "classification"
	}
	expr := r.Model[kind]
	if expr == "" {
		return Trial{}, fmt.Errorf("recipe %q has no model for %s", r.Name, kind)
	}
	if c.Params == nil {
		c.Params = map[string]any{}
	}
	if c.Steps == nil {
		c.Steps = []string{}
	}
	cfgJSON, err := json.Marshal(c)
	if err != nil {
		return Trial{}, err
	}
	paramsJSON, _ := json.Marshal(c.Params)
	feat := "none added"
	if len(c.Steps) > 0 {
		feat = strings.Join(c.Steps, ", ")
	}
	data := map[string]string{
		"FeatureSummary": feat,
		"ConfigLiteral":  pyString(string(cfgJSON)),
		"ModelSummary":   fmt.Sprintf("%s (%s preprocessing)", r.Title, orDefault(r.Preprocess, "none")),
		"Imports":        r.Imports,
		"ParamsLiteral":  pyString(string(paramsJSON)),
		"Preprocess":     pyString(orDefault(r.Preprocess, "none")),
		"ModelExpr":      expr,
	}
	var cells []string
	for _, name := range []string{"features", "model", "cv", "handback"} {
		var sb strings.Builder
		if err := cellTemplates.ExecuteTemplate(&sb, name, data); err != nil {
			return Trial{}, err
		}
		cells = append(cells, sb.String())
	}
	return Trial{
		Title: title,
		Plan:  plan,
		Cells: cells,
		Tags:  map[string]string{tagKey: key, tagConfig: string(cfgJSON), tagFamily: r.Family},
	}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// blendEvery is how many trials the strategist runs between two blends.
const blendEvery = 4

// blend proposes averaging the saved predictions of the best trials of
// different families, when that set of trials has not been blended yet and
// no blend ran in the last few trials. Averaging models with different
// biases usually beats each of them; the harness scores the blend like any
// trial, on the same folds, so the keep rule decides.
func (b *Builtin) blend(s State) (Trial, bool) {
	last := 0
	blended := map[string]bool{}
	for _, t := range s.Trials {
		if t.Tags[tagFamily] == "blend" {
			last = max(last, t.Number)
			blended[t.Tags[tagKey]] = true
		}
	}
	if last > 0 && s.Next-last <= blendEvery {
		return Trial{}, false
	}
	// The best scored trial of each family, best first.
	byFamily := map[string]TrialSummary{}
	for _, t := range s.Trials {
		fam := t.Tags[tagFamily]
		if (t.Status != "kept" && t.Status != "discarded") || fam == "" || fam == "dummy" || fam == "blend" {
			continue
		}
		if cur, ok := byFamily[fam]; !ok || beats(s, t.CV, cur.CV) {
			byFamily[fam] = t
		}
	}
	var tops []TrialSummary
	for _, t := range byFamily {
		tops = append(tops, t)
	}
	sort.Slice(tops, func(i, j int) bool { return beats(s, tops[i].CV, tops[j].CV) })
	if len(tops) < 3 {
		return Trial{}, false
	}
	// Members within 5% of the best family's CV, at most three: an equal
	// average is only as good as its weaker members allow.
	var members []TrialSummary
	for _, t := range tops {
		if len(members) < 3 && math.Abs(t.CV-tops[0].CV) <= 0.05*math.Abs(tops[0].CV) {
			members = append(members, t)
		}
	}
	if len(members) < 2 {
		return Trial{}, false
	}
	nums := make([]string, len(members))
	cites := make([]string, len(members))
	for i, m := range members {
		nums[i] = strconv.Itoa(m.Number)
		cites[i] = fmt.Sprintf("trial %d (%s, %s)", m.Number, m.Title, scoreText(s, m))
	}
	key := "blend:" + strings.Join(nums, ",")
	if blended[key] {
		return Trial{}, false
	}
	plan := fmt.Sprintf("## Blend of the best trial of each family\n\n**Evidence.** The best trial of each model family, within 5%% of the best: %s.\n\n**Why.** These families make different errors; the average of their out-of-fold predictions is scored on the same folds as each of them, so the blend is kept only if it beats the best single trial by more than noise. Nothing is refitted: the blend reads the members' saved predictions and models from their trial folders.",
		strings.Join(cites, "; "))
	cell := fmt.Sprintf(`# Blend: the average of earlier trials' saved predictions
import pickle

import numpy as np

MEMBERS = [%s]
member_dirs = [EXPERIMENT_DIR / "trials" / f"{n:03d}" for n in MEMBERS]
oof = np.mean([np.load(d / "oof.npy") for d in member_dirs], axis=0)
holdout_pred = np.mean([np.load(d / "holdout.npy") for d in member_dirs], axis=0)


class Blend:
    """The members' models, predictions averaged."""

    def __init__(self, models):
        self.models = models

    def predict(self, df):
        return np.mean([m.predict(df) for m in self.models], axis=0)

    def predict_proba(self, df):
        return np.mean([m.predict_proba(df) for m in self.models], axis=0)


try:
    blend_model = Blend([pickle.loads((d / "model.pkl").read_bytes()) for d in member_dirs])
except Exception as e:  # the blend still scores without a model to predict with
    print(f"members' models not loaded ({type(e).__name__}: {e}); no model.pkl for this trial")
    blend_model = None
print(f"blend of trials {MEMBERS}")
`, strings.Join(nums, ", "))
	return Trial{
		Title: "Blend of trials " + strings.Join(nums, ", "),
		Plan:  plan,
		Cells: []string{cell, "hand_back(oof, holdout_pred, model=blend_model)\n"},
		Tags:  map[string]string{tagKey: key, tagFamily: "blend", "members": strings.Join(nums, ",")},
	}, true
}

// fresh builds a trial unless an earlier trial (not interrupted) ran the
// same configuration: two ideas can lead to the same place, e.g. the
// runner-up family "as is" with features it already had.
func (b *Builtin) fresh(s State, key, title string, c config, plan string) (Trial, bool, error) {
	t, err := b.trial(s, key, title, c, plan)
	if err != nil {
		return Trial{}, false, err
	}
	for _, old := range s.Trials {
		if old.Status != "interrupted" && old.Tags[tagConfig] == t.Tags[tagConfig] {
			return Trial{}, false, nil
		}
	}
	return t, true, nil
}
