package lab

import (
	"strings"
	"testing"

	"trialbook/journal"
)

func TestDecide(t *testing.T) {
	rmse, _ := LookupMetric("rmse")
	auc, _ := LookupMetric("auc")
	score := func(folds ...float64) *journal.Score {
		s := &journal.Score{Folds: folds}
		for _, f := range folds {
			s.CV += f / float64(len(folds))
		}
		return s
	}
	cases := []struct {
		name   string
		m      Metric
		cand   *journal.Score
		best   *journal.Score
		keep   bool
		reason string
	}{
		{"first trial", rmse, score(3, 3, 3), nil, true, "first scored trial"},
		{"better on every fold", rmse, score(2.0, 2.1, 1.9), score(3, 3.1, 2.9), true, "more than noise"},
		{"better on average, noisy", rmse, score(1.0, 4.0, 2.5), score(3, 3, 3), false, "within noise"},
		{"worse", rmse, score(3.5, 3.6, 3.4), score(3, 3, 3), false, "not better"},
		{"maximised metric", auc, score(0.80, 0.82, 0.81), score(0.75, 0.76, 0.74), true, "more than noise"},
		{"maximised, worse", auc, score(0.70, 0.72, 0.71), score(0.75, 0.76, 0.74), false, "not better"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keep, reason := Decide(c.m, c.cand, 1, c.best)
			if keep != c.keep || !strings.Contains(reason, c.reason) {
				t.Errorf("Decide = %v, %q; want %v and a reason saying %q", keep, reason, c.keep, c.reason)
			}
		})
	}
}

func TestScoreTrialRejectsBadShapes(t *testing.T) {
	d := &Data{
		View:    View{Task: "regression", Rows: 4, HoldoutRows: 2},
		Folds:   []Fold{{Train: []int{2, 3}, Valid: []int{0, 1}}, {Train: []int{0, 1}, Valid: []int{2, 3}}},
		Train:   Truth{Values: []float64{1, 2, 3, 4}},
		Holdout: Truth{Values: []float64{5, 6}},
	}
	rmse, _ := LookupMetric("rmse")
	good := Array{Shape: []int{4}, Data: []float64{1, 2, 3, 5}}
	hold := Array{Shape: []int{2}, Data: []float64{5, 7}}
	s, err := ScoreTrial(rmse, d, good, hold)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Folds, []float64{0, 0.7071067811865476}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("fold scores %v, want %v", got, want)
	}
	for name, bad := range map[string]Array{
		"short":   {Shape: []int{3}, Data: []float64{1, 2, 3}},
		"2-D":     {Shape: []int{4, 2}, Data: make([]float64, 8)},
		"has NaN": {Shape: []int{4}, Data: []float64{1, 2, 3, nan()}},
	} {
		if _, err := ScoreTrial(rmse, d, bad, hold); err == nil {
			t.Errorf("%s out-of-fold predictions scored", name)
		}
	}
}

func nan() float64 {
	var z float64
	return z / z
}
