package lab

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"trialbook/journal"
)

// synthetic builds a regression data view of n training rows in k folds
// and h holdout rows, with labels drawn from rng.
func synthetic(rng *rand.Rand, n, k, h int) *Data {
	d := &Data{View: View{Task: "regression", Rows: n, HoldoutRows: h}}
	d.Train.Values = make([]float64, n)
	for i := range d.Train.Values {
		d.Train.Values[i] = rng.NormFloat64() * 10
	}
	d.Holdout.Values = make([]float64, h)
	for i := range d.Holdout.Values {
		d.Holdout.Values[i] = rng.NormFloat64() * 10
	}
	d.Folds = make([]Fold, k)
	for i := 0; i < n; i++ {
		f := i % k
		d.Folds[f].Valid = append(d.Folds[f].Valid, i)
		for g := range d.Folds {
			if g != f {
				d.Folds[g].Train = append(d.Folds[g].Train, i)
			}
		}
	}
	return d
}

// noisy predicts the labels plus independent noise of the given size.
func noisy(t *testing.T, rng *rand.Rand, m Metric, d *Data, trial int, sd float64) Candidate {
	t.Helper()
	oof := make([]float64, len(d.Train.Values))
	for i, y := range d.Train.Values {
		oof[i] = y + rng.NormFloat64()*sd
	}
	hold := make([]float64, len(d.Holdout.Values))
	for i, y := range d.Holdout.Values {
		hold[i] = y + rng.NormFloat64()*sd
	}
	c := Candidate{Trial: trial, OOF: Array{Shape: []int{len(oof)}, Data: oof}, Holdout: Array{Shape: []int{len(hold)}, Data: hold}}
	s, err := ScoreTrial(m, d, c.OOF, c.Holdout)
	if err != nil {
		t.Fatal(err)
	}
	c.Score = s
	return c
}

func TestSelectEnsembleBlendsIndependentErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, _ := LookupMetric("rmse")
	d := synthetic(rng, 400, 5, 100)
	// Three models with equally large, independent errors: their average
	// has about 1/sqrt(3) of the error, far beyond noise.
	cands := []Candidate{noisy(t, rng, m, d, 1, 5), noisy(t, rng, m, d, 2, 5), noisy(t, rng, m, d, 3, 5)}
	best := 1
	for _, c := range cands {
		if c.Score.CV < cands[best-1].Score.CV {
			best = c.Trial
		}
	}
	e, err := SelectEnsemble(m, d, cands, best, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Weights) != 3 {
		t.Fatalf("weights %v: want all three trials", e.Weights)
	}
	var sum float64
	oof := make([]float64, len(d.Train.Values))
	hold := make([]float64, len(d.Holdout.Values))
	for _, c := range cands {
		w := e.Weights[c.Trial]
		sum += w
		for i, v := range c.OOF.Data {
			oof[i] += w * v
		}
		for i, v := range c.Holdout.Data {
			hold[i] += w * v
		}
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("weights sum to %v, want 1", sum)
	}
	// The recorded score is the score of the weighted blend.
	want, err := ScoreTrial(m, d, Array{Shape: []int{len(oof)}, Data: oof}, Array{Shape: []int{len(hold)}, Data: hold})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(e.Score.CV-want.CV) > 1e-9 || math.Abs(*e.Score.Holdout-*want.Holdout) > 1e-9 {
		t.Errorf("ensemble score CV %v holdout %v, want %v and %v", e.Score.CV, *e.Score.Holdout, want.CV, *want.Holdout)
	}
	if got, wantMax := e.Score.CV, cands[best-1].Score.CV/1.4; got > wantMax {
		t.Errorf("blend CV %v: want below %v (best single %v)", got, wantMax, cands[best-1].Score.CV)
	}
	if !e.Used {
		t.Errorf("blend not used: %s", e.Reason)
	}
	// The kept rounds end at the best CV of the trajectory.
	low := e.Trajectory[0]
	for _, v := range e.Trajectory {
		low = math.Min(low, v)
	}
	if math.Abs(low-e.Score.CV) > 1e-9 {
		t.Errorf("ensemble CV %v, but the best round of %v scored %v", e.Score.CV, e.Trajectory, low)
	}
}

func TestSelectEnsembleKeepsADominantTrialAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m, _ := LookupMetric("rmse")
	d := synthetic(rng, 300, 5, 60)
	cands := []Candidate{noisy(t, rng, m, d, 4, 0.5), noisy(t, rng, m, d, 7, 20), noisy(t, rng, m, d, 9, 25)}
	e, err := SelectEnsemble(m, d, cands, 4, 10)
	if err != nil {
		t.Fatal(err)
	}
	if e.Used {
		t.Errorf("a blend was used over a far better single trial: %v, %s", e.Weights, e.Reason)
	}
	if e.Weights[4] < 0.8 {
		t.Errorf("weights %v: want trial 4 to dominate", e.Weights)
	}
}

func TestSelectEnsembleWithinNoiseIsNotUsed(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m, _ := LookupMetric("rmse")
	d := synthetic(rng, 200, 5, 40)
	a := noisy(t, rng, m, d, 1, 3)
	// Trial 2 is trial 1 with a tiny perturbation: blending them changes
	// nothing beyond noise.
	b := Candidate{Trial: 2, OOF: Array{Shape: a.OOF.Shape}, Holdout: a.Holdout}
	for _, v := range a.OOF.Data {
		b.OOF.Data = append(b.OOF.Data, v+rng.NormFloat64()*0.01)
	}
	b.Score, _ = ScoreTrial(m, d, b.OOF, b.Holdout)
	e, err := SelectEnsemble(m, d, []Candidate{a, b}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.Used {
		t.Errorf("used a blend of near-copies: %s", e.Reason)
	}
}

func TestSelectEnsembleMulticlassMaximize(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m, _ := LookupMetric("accuracy")
	n, k := 300, 3
	d := &Data{View: View{Task: "multiclass", Rows: n, Classes: []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`"b"`), json.RawMessage(`"c"`)}}, Train: Truth{K: k, Classes: make([]int, n)}}
	d.Folds = make([]Fold, 3)
	for i := 0; i < n; i++ {
		d.Train.Classes[i] = rng.IntN(k)
		d.Folds[i%3].Valid = append(d.Folds[i%3].Valid, i)
	}
	mk := func(trial int) Candidate {
		p := make([]float64, n*k)
		for i, c := range d.Train.Classes {
			for j := 0; j < k; j++ {
				p[i*k+j] = rng.Float64()
			}
			p[i*k+c] += 0.35
		}
		return Candidate{Trial: trial, OOF: Array{Shape: []int{n, k}, Data: p}, Holdout: Array{Shape: []int{0, k}}}
	}
	cands := []Candidate{mk(1), mk(2), mk(3), mk(4)}
	e, err := SelectEnsemble(m, d, cands, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	single, _ := cvScore(m, d, cands[0].OOF)
	if e.Score.CV < single {
		t.Errorf("accuracy of the blend %v is below trial 1's %v", e.Score.CV, single)
	}
	if e.Score.Holdout != nil {
		t.Errorf("no holdout rows but a holdout score %v", *e.Score.Holdout)
	}
}

func TestEnsembleEventRoundTrip(t *testing.T) {
	e := &Ensemble{Weights: map[int]float64{2: 0.6, 5: 0.4}, Score: &journal.Score{Metric: "rmse", CV: 1}, Best: 5, Used: true, Reason: "used: x"}
	ev := e.Event()
	ev.Seq = 9
	snap := journal.Fold([]journal.Event{
		{Seq: 1, Type: journal.ExperimentCreated, Problem: &journal.ProblemSummary{Metric: "rmse", Direction: "minimize"}},
		{Seq: 2, Type: journal.TrialKept, Trial: 5, Best: 5, Score: &journal.Score{CV: 2}},
		ev,
	})
	w, _, ok := CurrentEnsemble([]journal.Event{ev}, &snap)
	if !ok || w[2] != 0.6 || w[5] != 0.4 {
		t.Fatalf("CurrentEnsemble = %v, %v", w, ok)
	}
	if snap.Ensemble == nil || snap.Ensemble.Weights["2"] != 0.6 {
		t.Errorf("snapshot ensemble %+v", snap.Ensemble)
	}
	if !e.sameAs(&ev) {
		t.Error("an ensemble differs from its own event")
	}
	// A later best makes the ensemble stale.
	snap.Apply(journal.Event{Seq: 10, Type: journal.TrialKept, Trial: 6, Best: 6, Score: &journal.Score{CV: 0.5}})
	if _, _, ok := CurrentEnsemble([]journal.Event{ev}, &snap); ok {
		t.Error("an ensemble selected against trial 5 is still current after trial 6 became the best")
	}
}
