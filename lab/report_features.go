package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"trialbook/journal"
	"trialbook/specs"
)

// featureResearch is the report's feature section: what the best trials
// used, and each decision that added or removed a feature step.
type featureResearch struct {
	Original  []string          `json:"original"`  // the data view's feature columns
	Best      []featureTrial    `json:"best"`      // the best trials, best first
	Decisions []featureDecision `json:"decisions"` // in the order they were decided
	Explain   map[string]string `json:"explain"`   // step -> what it does and why
}

type featureTrial struct {
	Trial      int                `json:"trial"`
	Title      string             `json:"title"`
	CV         float64            `json:"cv"`
	Steps      []string           `json:"steps"`      // engineered feature steps
	Engineered []string           `json:"engineered"` // columns the steps added, when known
	Top        []featureImportant `json:"top"`        // trials/NNN/importance.json, when saved
}

type featureImportant struct {
	Feature    string  `json:"feature"`
	Importance float64 `json:"importance"`
}

type featureDecision struct {
	Trial    int      `json:"trial"`
	Title    string   `json:"title"`
	Base     int      `json:"base"` // the best trial it was compared with
	Added    []string `json:"added"`
	Removed  []string `json:"removed"`
	BaseCV   float64  `json:"baseCV"`
	CV       float64  `json:"cv"`
	Change   float64  `json:"change"` // cv - baseCV
	Decision string   `json:"decision"`
	Reason   string   `json:"reason"`
}

// featureSteps is the set of feature steps a trial's tags describe: the
// "features" tag (comma separated, the convention for LLM agents), or the
// built-in strategist's config (steps, interactions and ratios).
func featureSteps(tags map[string]string) []string {
	var out []string
	if f := strings.TrimSpace(tags["features"]); f != "" {
		for _, s := range strings.Split(f, ",") {
			if s = strings.TrimSpace(s); s != "" && s != "none" {
				out = append(out, s)
			}
		}
	}
	if c := tags["config"]; c != "" {
		var cfg struct {
			Steps        []string    `json:"steps"`
			Interactions [][2]string `json:"interactions"`
			Ratios       [][2]string `json:"ratios"`
		}
		if json.Unmarshal([]byte(c), &cfg) == nil {
			for _, s := range cfg.Steps {
				if s != "seeds" { // seed bagging is not a feature
					out = append(out, s)
				}
			}
			for _, p := range cfg.Interactions {
				out = append(out, p[0]+" × "+p[1])
			}
			for _, p := range cfg.Ratios {
				out = append(out, p[0]+" / "+p[1])
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func researchFeatures(events []journal.Event, snap *journal.Snapshot, trials map[int]*reportTrial, dir string) *featureResearch {
	fr := &featureResearch{Explain: map[string]string{}, Decisions: []featureDecision{}, Best: []featureTrial{}}
	if d, err := LoadData(dir); err == nil {
		fr.Original = d.View.Features
	}
	if rs, err := specs.LoadRecipes(nil); err == nil {
		for _, r := range rs {
			if r.Step != "" && r.Stage == "feature" {
				fr.Explain[r.Step] = r.Title + ": " + r.Why
			}
		}
	}
	// Replay the decisions: each kept or discarded trial against the best
	// trial before it.
	best := 0
	var bestCV float64
	for _, e := range events {
		if e.Type != journal.TrialKept && e.Type != journal.TrialDiscarded {
			continue
		}
		t := trials[e.Trial]
		if t == nil || e.Score == nil {
			continue
		}
		if best != 0 && best != e.Trial {
			mine, theirs := featureSteps(t.Tags), featureSteps(trials[best].Tags)
			added, removed := diff(mine, theirs), diff(theirs, mine)
			if len(added)+len(removed) > 0 {
				fr.Decisions = append(fr.Decisions, featureDecision{
					Trial: e.Trial, Title: t.Title, Base: best, Added: added, Removed: removed,
					BaseCV: bestCV, CV: e.Score.CV, Change: e.Score.CV - bestCV,
					Decision: strings.TrimPrefix(string(e.Type), "trial."), Reason: e.Reason,
				})
			}
		}
		if e.Type == journal.TrialKept {
			best, bestCV = e.Trial, e.Score.CV
		}
	}
	// The best trials: the top of the leaderboard among scored trials.
	for _, r := range snap.Leaderboard {
		if len(fr.Best) >= 3 {
			break
		}
		if r.Score == nil || (r.Status != journal.TrialStatusKept && r.Status != journal.TrialStatusDiscarded) {
			continue
		}
		t := trials[r.Trial]
		ft := featureTrial{Trial: r.Trial, Title: r.Title, CV: r.Score.CV, Steps: featureSteps(t.Tags), Engineered: []string{}, Top: []featureImportant{}}
		if ft.Steps == nil {
			ft.Steps = []string{}
		}
		var imp []struct {
			Feature    string  `json:"feature"`
			Importance float64 `json:"importance"`
		}
		if b, err := os.ReadFile(filepath.Join(TrialArtifacts(dir, r.Trial), "importance.json")); err == nil && json.Unmarshal(b, &imp) == nil {
			sort.SliceStable(imp, func(i, j int) bool { return imp[i].Importance > imp[j].Importance })
			original := map[string]bool{}
			for _, f := range fr.Original {
				original[f] = true
			}
			for _, x := range imp {
				if !original[x.Feature] && len(ft.Engineered) < 30 {
					ft.Engineered = append(ft.Engineered, x.Feature)
				}
				if len(ft.Top) < 10 {
					ft.Top = append(ft.Top, featureImportant{Feature: x.Feature, Importance: x.Importance})
				}
			}
		}
		fr.Best = append(fr.Best, ft)
	}
	return fr
}

// diff is a minus b, both sorted.
func diff(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// describeSteps explains steps for the report's markdown.
func describeSteps(steps []string) string {
	if len(steps) == 0 {
		return "none (the original columns only)"
	}
	return "`" + strings.Join(steps, "`, `") + "`"
}
